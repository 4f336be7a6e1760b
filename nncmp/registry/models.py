"""Model registry: CLI name → builder of an nn.Sequential for a given input shape and output size."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nncmp.errors import SpecError
from nncmp.registry.model_spec import MODEL_ARGS, ModelSpec
from nncmp.registry.user import guarded, resolve, split_ref

if TYPE_CHECKING:
    from torch import nn

ACTIVATIONS: dict[str, str] = {
    "relu": "ReLU",
    "leaky-relu": "LeakyReLU",
    "elu": "ELU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
}


def _act(name: str) -> nn.Module:
    from torch import nn

    return getattr(nn, ACTIVATIONS[name])()


def _flat(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


RESIDUAL = ("none", "plain", "depth-mup")  # --model-arg residual of the mlp


def build_mlp(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> nn.Sequential:
    """Linear → [BatchNorm1d] → act → [Dropout] per hidden layer, then the output layer. With --model-arg
    residual=plain or depth-mup (hidden layers of one width), every hidden layer after the first is a residual
    block x + s · layer(x), s = 1 or 1/√depth (depth = the number of hidden layers)."""
    from torch import nn

    residual = dict(spec.model_args).get("residual", "none")
    if residual not in RESIDUAL:
        raise ValueError(f"--model-arg residual={residual}: the mlp's residual is one of {', '.join(RESIDUAL)}")
    if residual != "none" and len(set(spec.hidden)) > 1:
        raise ValueError(f"--model-arg residual={residual} needs hidden layers of one width, got "
                         f"{','.join(map(str, spec.hidden))}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = _flat(shape)
    for i, h in enumerate(spec.hidden):
        layer = [nn.Linear(width, h), *([nn.BatchNorm1d(h)] if spec.batchnorm else []), _act(spec.act),
                 *([nn.Dropout(spec.dropout)] if spec.dropout > 0 else [])]
        if residual == "none" or i == 0:
            layers += layer
        else:
            from nncmp.registry.blocks import Residual  # lazy: torch at its top

            layers.append(Residual(nn.Sequential(*layer), len(spec.hidden) ** -0.5 if residual == "depth-mup" else 1.0))
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def build_cnn(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> nn.Sequential:
    """The course's ConvNet: conv3x3(64)-BN-act-pool, conv3x3(128)-BN-act-pool, Linear 256, Linear (64: its
    width). On 1-D signals (channels, length), the same with Conv1d, BatchNorm1d and MaxPool1d (kernel 3, pool 2)."""
    from torch import nn

    if len(shape) not in (2, 3):
        raise ValueError(f"cnn needs images (channels, height, width) or signals (channels, length), got {shape}")
    one_d = len(shape) == 2
    conv, norm, pool = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d) if one_d else (nn.Conv2d, nn.BatchNorm2d,
                                                                                  nn.MaxPool2d)
    c, *size = shape
    pooled = [d // 4 for d in size]  # two pools of 2
    if min(pooled) < 1:
        raise ValueError(f"cnn needs {'signals of at least 4 points' if one_d else 'images of at least 4x4 pixels'}"
                         f", got {'x'.join(map(str, size))}")
    # --model-arg width (--widths): the course's 64 channels, then twice and four times as many
    w = dict(spec.model_args).get("width", MODEL_ARGS["cnn"]["width"])
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
        raise ValueError(f"--model-arg width={w}: cnn takes a positive integer for width")
    flat = 2 * w
    for d in pooled:
        flat *= d
    return nn.Sequential(
        conv(c, w, kernel_size=3, padding=1),
        norm(w),
        _act(spec.act),
        pool(2),
        conv(w, 2 * w, kernel_size=3, padding=1),
        norm(2 * w),
        _act(spec.act),
        pool(2),
        nn.Flatten(),
        nn.Linear(flat, 4 * w),
        _act(spec.act),
        *([nn.Dropout(spec.dropout)] if spec.dropout > 0 else []),
        nn.Linear(4 * w, n_out),
    )


def build_logreg(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> nn.Sequential:
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(_flat(shape), n_out))


def build_linear(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> nn.Sequential:
    """y = Xw with no bias, as in the course's regression examples."""
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(_flat(shape), n_out, bias=False))


def build_transformer(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> nn.Module:
    from nncmp.registry import sequence_models  # lazy: torch at its top

    return sequence_models.build_transformer(spec, shape, n_out, vocab)


def build_gru(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> nn.Module:
    from nncmp.registry import sequence_models  # lazy: torch at its top

    return sequence_models.build_gru(spec, shape, n_out, vocab)


def build_lstm(spec: ModelSpec, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> nn.Module:
    from nncmp.registry import sequence_models  # lazy: torch at its top

    return sequence_models.build_lstm(spec, shape, n_out, vocab)


# A builder: (the run, one example's shape, outputs, vocabulary: 0 for float features, else the number of token
# ids the inputs hold) → the untrained model.
Builder = Callable[[ModelSpec, tuple[int, ...], int, int], "nn.Module"]

MODELS: dict[str, Builder] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "logreg": build_logreg,
    "linear": build_linear,
    "transformer": build_transformer,
    "gru": build_gru,
    "lstm": build_lstm,
}


# What each built-in model has: an option it lacks is refused, so no label names what a model does not have.
HAS: dict[str, frozenset[str]] = {
    "mlp": frozenset({"hidden", "act", "batchnorm", "dropout"}),
    "cnn": frozenset({"act", "dropout"}),
    "logreg": frozenset(),
    "linear": frozenset(),
    "transformer": frozenset({"dropout"}),
    "gru": frozenset(),
    "lstm": frozenset(),
}
WHAT = {
    "mlp": "hidden layers of --hidden widths (or --depth × --width), each Linear → [BatchNorm1d] → act → [Dropout]",
    "cnn": "the course's ConvNet: two 3x3 convolutions of width and 2·width channels (--model-arg width, default 64) "
           "with BatchNorm (2-D, or 1-D on signals), a Linear of 4·width "
           "with the activation and dropout, the output layer",
    "logreg": "a single Linear layer: no hidden layers, activation, BatchNorm or dropout",
    "linear": "y = Xw, one Linear layer without bias: no hidden layers, activation, BatchNorm or dropout",
    "transformer": "a decoder-only pre-LayerNorm GPT: token and learned position embeddings, n_layer blocks of "
                   "causal self-attention and a 4x GELU MLP, a final LayerNorm and a bias-free head; [Dropout] "
                   "on embeddings and residual branches",
    "gru": "an embedding (or a Linear projection of float features), an n_layer GRU of `hidden` units, a Linear "
           "head",
    "lstm": "an embedding (or a Linear projection of float features), an n_layer LSTM of `hidden` units, a Linear "
            "head",
}
# The normalisation a model always has, whatever --batchnorm says (the cnn's BatchNorm2d).
BUILT_IN_NORM = {"cnn": "batchnorm"}

# What a built-in model is, for the decisions that depend on it (which engine, which optimizer, which input,
# which checks): they read these properties, never a model's name. A user's model has none of them, since
# nncmp does not know its layers; what its build shows is checked on the built model instead.
STACKABLE = "stackable"  # Linear layers (BatchNorm1d, Dropout, activations between): the stacked engine's Stack
PLAIN_LINEAR = "plain-linear"  # biased Linear layers and activations only: the batch-1 SGD fast path's arithmetic
TOKENS = "tokens"  # takes token ids (integer inputs, an nn.Embedding), not float features
FUNC_STACK = "func-stack"  # no buffers, no random layers without --dropout: stacks exactly with torch.func
HIDDEN_MATRICES = "hidden-matrices"  # weight matrices besides the output layer's (what Muon-style optimizers train)
IMAGES = "images"  # takes images (channels, height, width) or signals (channels, length), not flat features
BATCHNORM1D = "batchnorm1d"  # --batchnorm puts BatchNorm1d over a layer's features: a batch of one cannot train
PROPERTIES: dict[str, frozenset[str]] = {
    "mlp": frozenset({STACKABLE, PLAIN_LINEAR, HIDDEN_MATRICES, BATCHNORM1D}),
    "cnn": frozenset({HIDDEN_MATRICES, IMAGES}),
    "logreg": frozenset({STACKABLE, PLAIN_LINEAR}),
    "linear": frozenset({STACKABLE}),  # no bias: not the fast path's layers
    "transformer": frozenset({TOKENS, HIDDEN_MATRICES, FUNC_STACK}),
    # not FUNC_STACK: vmap has no batching rule for aten::gru / aten::lstm
    "gru": frozenset({TOKENS, HIDDEN_MATRICES}),
    "lstm": frozenset({TOKENS, HIDDEN_MATRICES}),
}


# The attribute of a μP model holding its parameters' shapes against width (registry/mup.py).
MUP_SHAPES = "nncmp_mup_shapes"


def model_is(model: str, prop: str) -> bool:
    """Whether the built-in `model` has the property `prop` (one of PROPERTIES'); False for a user's model."""
    return prop in PROPERTIES.get(model, frozenset())


def build_model(spec: ModelSpec, shape: tuple[int, ...], n_out: int, task: str = "classification",
                vocab: int = 0) -> nn.Module:
    """The untrained model of a run: a built-in, or a user's (`--model file.py:Name`, `module:Name`). `vocab`:
    the number of token ids of token inputs (Data.vocab; 0: float features)."""
    return model_builder(spec, shape, n_out, task, vocab)()


def model_builder(spec: ModelSpec, shape: tuple[int, ...], n_out: int, task: str = "classification",
                  vocab: int = 0) -> Callable[[], nn.Module]:
    """What builds the run's model, its code already imported: a user's file may draw random numbers when it
    is imported (a module-level layer), so the import happens before the run's seed is set, never between
    the seed and the weights."""
    build = _plain_builder(spec, shape, n_out, task, vocab)
    base = spec.mup_base() if getattr(spec, "param", "sp") == "mup" else None
    if base is None:
        return build

    def build_mup() -> nn.Module:
        import torch  # lazy: --help reads this module

        from nncmp.registry import mup  # lazy: torch at its top

        model = build()
        # The base and a wider model only show which dimensions grow with width: built on the meta device, they
        # allocate nothing and draw no random numbers, so the run's weights are those of its sp twin.
        with torch.device("meta"):
            at_base = _plain_builder(spec.at_width(base), shape, n_out, task, vocab)()
            wider = _plain_builder(spec.at_width(2 * base), shape, n_out, task, vocab)()
        try:
            shapes = mup.infer_shapes(model, at_base, wider)
        except ValueError as error:  # a model whose shapes do not follow its width argument
            raise SpecError(f"--param mup: {str(error).removeprefix('μP: ')}") from None
        mup.apply(model, shapes, mup.readout(model))
        setattr(model, MUP_SHAPES, shapes)  # training.stepping's per-layer rates read them
        return model

    return build_mup


def _plain_builder(spec: ModelSpec, shape: tuple[int, ...], n_out: int, task: str,
                   vocab: int) -> Callable[[], nn.Module]:
    if spec.model in MODELS:
        return lambda: MODELS[spec.model](spec, shape, n_out, vocab)

    resolve(spec.model, f"--model {spec.model}")
    return lambda: build_user(spec.model, dict(spec.model_args), shape, n_out, task, vocab)


def has_batchnorm1d(spec: ModelSpec) -> bool:
    """Whether the run's model normalises features with BatchNorm1d, which cannot train on one example."""
    return spec.batchnorm and model_is(spec.model, BATCHNORM1D)


def user_kwargs(task: str, shape: tuple[int, ...], n_out: int, vocab: int = 0) -> dict[str, object]:
    """What nncmp offers a user's model: the input shape of one example, the number of outputs, and for token
    inputs the vocabulary size (token ids are 0 .. vocab_size-1)."""
    offered: dict[str, object] = {"input_shape": shape,
                                  ("n_classes" if task == "classification" else "n_outputs"): n_out}
    if vocab:
        offered["vocab_size"] = vocab
    return offered


def build_user(ref: str, args: dict[str, object], shape: tuple[int, ...], n_out: int,
               task: str = "classification", vocab: int = 0) -> nn.Module:
    """A user's model: NAME called with those of input_shape, n_classes (regression: n_outputs) and vocab_size
    (token inputs) it accepts, plus --model-arg's. SpecError (one line) when it cannot be found or built or is
    no nn.Module."""
    import inspect

    from torch import nn

    what = f"--model {ref}"
    name = split_ref(ref)[1]
    obj = resolve(ref, what)
    if not callable(obj):
        raise SpecError(f"{what}: {name} is of type {type(obj).__name__}, not an nn.Module class or a function "
                        "returning one")
    if isinstance(obj, nn.Module):
        raise SpecError(f"{what}: {name} is a model instance; pass its class (or a function that builds one), "
                        "so that every run starts from its own seeded weights")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):  # builtins without a signature: offer nothing, pass --model-arg's
        params = {}
    reserved = [k for k in args if k in ("input_shape", "n_classes", "n_outputs", "vocab_size")]
    if reserved:
        raise SpecError(f"--model-arg {reserved[0]}: nncmp passes {reserved[0]} itself, from the data")
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in user_kwargs(task, shape, n_out, vocab).items() if k in params or open_kwargs}
    unknown = [k for k in args if params and k not in params and not open_kwargs]
    if unknown:
        takes = [k for k, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        raise SpecError(f"--model-arg {unknown[0]}: {name} takes no argument {unknown[0]!r} (it takes: "
                        f"{', '.join(takes) or 'nothing'})")
    needed = [k for k, p in params.items() if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                                                   p.KEYWORD_ONLY)]
    other = {"n_classes": "n_outputs", "n_outputs": "n_classes"}
    for k in needed:
        if k in other and k not in kwargs and other[k] in user_kwargs(task, shape, n_out):
            given = "regression (its targets are not integers)" if task == "regression" else \
                "classification (its labels are integers)"
            raise SpecError(f"{what}: {name} needs {k}, but the data was taken as {given}, so nncmp offers "
                            f"{other[k]}; pass --task {'classification' if k == 'n_classes' else 'regression'} "
                            f"if that is wrong, or accept {other[k]} too")
    with guarded(what, "building it", SpecError):  # the user's constructor may raise anything: one line
        model = obj(**kwargs, **args)
    if not isinstance(model, nn.Module):
        raise SpecError(f"{what}: {name}(...) returned an object of type {type(model).__name__}, not an nn.Module")
    if task == "regression":
        from nncmp.registry.columns import OutputColumns  # lazy: torch at its top, and models.py is read by --help

        model = OutputColumns(model)
    return model
