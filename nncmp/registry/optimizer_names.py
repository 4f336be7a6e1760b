"""The optimizer names of torch.optim and pytorch-optimizer at the versions tested: a bare name resolves,
or is refused with the closest ones, without importing torch (2 s). Another installed version is asked
directly; a test keeps this equal to the libraries at these versions."""

SNAPSHOT = {
    "torch": ("2.14.1", (
            "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "asgd", "lbfgs", "muon", "nadam",
            "radam", "rmsprop", "rprop", "sgd", "sparseadam",
    )),
    "pytorch-optimizer": ("4.1.0", (
            "a2grad", "accsgd", "adabelief", "adabound", "adadelta", "adafactor", "adagc", "adago",
            "adahessian", "adai", "adalite", "adalomo", "adam", "adamax", "adamc", "adamg", "adammini",
            "adamod", "adamp", "adams", "adamuon", "adamw", "adamwsn", "adan", "adanorm", "adapnm",
            "adashift", "adasmooth", "adatam", "ademamix", "adopt", "aggmo", "aida", "alice", "alig",
            "amos", "ano", "apollo", "apollodqn", "asgd", "avagrad", "bcos", "bsam", "came", "conda",
            "dadaptadagrad", "dadaptadam", "dadaptadan", "dadaptlion", "dadaptsgd", "dash", "demo",
            "diffgrad", "distributedmuon", "dualadam", "emofact", "emolynx", "emonavi", "exadam", "fadam",
            "fira", "flashadamw", "focus", "fromage", "ftrl", "galore", "grams", "gravity", "grokfastadamw",
            "kate", "kron", "lamb", "laprop", "lars", "lbfgs", "lion", "lomo", "lorarite", "madgrad",
            "magma", "mars", "msvag", "muon", "muonclip", "nadam", "nero", "normuon", "novograd", "padam",
            "pid", "pnm", "prodigy", "qhadam", "qhm", "racs", "radam", "ranger", "ranger21", "rmsprop",
            "rose", "sara", "scalableshampoo", "schedulefreeadamw", "schedulefreeradam", "schedulefreesgd",
            "scion", "scionlight", "sgd", "sgdp", "sgdsai", "sgdw", "shampoo", "signsgd",
            "simplifiedademamix", "sm3", "soap", "sophiah", "spam", "spectralsphere", "splus", "srmm",
            "stableadamw", "stablespam", "swats", "tam", "tiger", "vsgd", "yogi",
    )),
}
