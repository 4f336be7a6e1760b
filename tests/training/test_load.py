"""How torch's threads wait and how many there are, from the measured load (training/load.py, openmp.py): on a
fake 2-core machine whose /proc/stat and clock the tests write, the choice follows what other programs do, a
user's setting is kept, a worker inherits the choice, and the thread count follows the load between groups.
Never timings: a test's machine is whatever it is (this one is busy)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from nncmp.training import load, openmp

pytestmark = pytest.mark.fast


class Machine:
    """Two cores, 100 ticks a second each, other programs keeping `busy` cores' worth of them busy (core 0 first);
    this process uses no CPU. Each reading of /proc/stat comes `step` seconds after the previous one."""

    def __init__(self, busy: float = 0.0, step: float = 0.5):
        self.busy, self.step, self.now = busy, step, 1000.0
        self.ticks = [[0.0, 0.0], [0.0, 0.0]]  # per core: busy, idle
        self.readings = 0

    def advance(self, seconds: float) -> None:
        left = self.busy
        for core in self.ticks:
            share = min(max(left, 0.0), 1.0)
            core[0] += 100 * seconds * share
            core[1] += 100 * seconds * (1 - share)
            left -= share
        self.now += seconds

    # the clock load.py reads (time.monotonic, time.process_time, time.sleep)
    def monotonic(self) -> float:
        return self.now

    def process_time(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def proc_stat(self) -> str:
        self.readings += 1
        self.advance(self.step)
        busy, idle = (sum(core[i] for core in self.ticks) for i in (0, 1))
        # user nice system idle iowait irq softirq steal guest guest_nice; a third core this process may not use
        return "\n".join([f"cpu  {busy:.0f} 0 0 {idle:.0f} 0 0 0 0 0 0",
                          *(f"cpu{i} {b:.0f} 0 0 {d:.0f} 0 0 0 0 0 0" for i, (b, d) in enumerate(self.ticks)),
                          "cpu2 0 0 0 0 0 0 0 0 0 0", "intr 1 2 3", ""])


def on(monkeypatch, fake: Machine) -> Machine:
    """load.py reading `fake`'s clock and /proc/stat, on its two cores, with no thread count set by the user."""
    monkeypatch.setattr(load, "time", fake)
    monkeypatch.setattr(load, "proc_stat", fake.proc_stat)
    monkeypatch.setattr(load, "cores", lambda: {0, 1})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return fake


@pytest.fixture
def machine(monkeypatch):
    """The fake machine in place of the real one, and a process in which nothing was chosen yet."""
    fake = on(monkeypatch, Machine())
    monkeypatch.setattr(load, "_last", None)
    monkeypatch.setattr(openmp, "_choice", None)
    monkeypatch.setattr(openmp._HOOK, "armed", False)
    monkeypatch.setattr(openmp, "torch_loaded", lambda: False)  # as before anything imported torch
    for name in (openmp.VARIABLE, openmp.CHOSEN, *openmp.SPIN):
        monkeypatch.delenv(name, raising=False)
    return fake


def test_other_programs_work_is_the_cores_busy_share_less_this_processs_own():
    text = textwrap.dedent("""\
        cpu  999 999 999 999 999 999 999 999 999 999
        cpu0 100 10 20 50 20 0 0 0 7 0
        cpu1 0 0 0 200 0 0 0 0 0 0
        cpu7 500 0 0 0 0 0 0 0 0 0
        intr 5 6
        """)
    # iowait counts as idle, guest time is inside user already; cpu7 is not this process's
    reading = _parse(text, {0, 1})
    assert (reading.busy, reading.total, reading.cores) == (130, 400, 2)
    before = load.Reading(wall=0.0, busy=0, total=0, own=0.0, cores=2)
    after = load.Reading(wall=1.0, busy=150, total=200, own=0.5, cores=2)  # 1.5 cores busy, half a core ours
    assert load.others(before, after) == pytest.approx(1.0)
    assert load.others(after, after) == 0.0  # no tick between them: nothing to say


def _parse(text, cores):
    old = load.proc_stat, load.cores
    load.proc_stat, load.cores = (lambda: text), (lambda: cores)
    try:
        return load.reading()
    finally:
        load.proc_stat, load.cores = old


@pytest.mark.parametrize(("busy", "policy", "threads"), [(0.0, "ACTIVE", 2), (0.3, "ACTIVE", 2), (0.8, "PASSIVE", 1),
                                                         (1.0, "PASSIVE", 1), (2.0, "PASSIVE", 1)])
def test_free_cores_get_spinning_threads_and_busy_ones_passive_waiting(machine, busy, policy, threads):
    machine.busy = busy
    openmp.choose_wait_policy()  # as `import nncmp` does: a first reading, the choice left to torch's import
    assert openmp.VARIABLE not in os.environ and machine.readings == 1
    chosen = openmp.choice()  # what the finder does when torch is imported
    assert os.environ[openmp.VARIABLE] == chosen.wait_policy == policy
    assert chosen.busy_cores == pytest.approx(busy, abs=0.01) and chosen.cores == 2
    assert f"{busy:.2f} of 2 cores busy" in chosen.why
    assert json.loads(os.environ[openmp.CHOSEN]) == chosen.to_json()  # what a worker process inherits
    assert load.threads_for(busy, 2, 2) == threads
    # Spinning for about 30 ms, not minutes: an idle nncmp process frees its cores (libgomp's and libomp's bound)
    spin = {name: os.environ.get(name) for name in openmp.SPIN}
    assert (spin == openmp.SPIN == chosen.spin) if policy == "ACTIVE" else (set(spin.values()) == {None} and
                                                                           chosen.spin is None)


def test_a_bound_on_spinning_the_user_set_is_kept(machine, monkeypatch):
    monkeypatch.setenv("GOMP_SPINCOUNT", "INFINITY")
    chosen = openmp.choice()
    assert chosen.wait_policy == "ACTIVE" and os.environ["GOMP_SPINCOUNT"] == "INFINITY"
    assert chosen.spin == {"KMP_BLOCKTIME": openmp.SPIN["KMP_BLOCKTIME"]} == {
        k: os.environ[k] for k in chosen.spin}
    assert "as long as GOMP_SPINCOUNT=INFINITY from the environment allows" in chosen.why  # not "about 30 ms"


@pytest.mark.parametrize("user", [None, "100"])
def test_a_busy_machine_drops_nncmps_own_bound_but_keeps_the_users(machine, monkeypatch, user):
    """libgomp spins for an explicit count even under PASSIVE: nncmp's bound (its value, inherited from a parent
    nncmp that chose ACTIVE) goes; a count the user set stays."""
    monkeypatch.setenv("GOMP_SPINCOUNT", user or openmp.SPIN["GOMP_SPINCOUNT"])
    machine.busy = 1.0
    chosen = openmp.choice()
    assert chosen.wait_policy == "PASSIVE" and chosen.spin is None
    assert os.environ.get("GOMP_SPINCOUNT") == user and "KMP_BLOCKTIME" not in os.environ


def test_the_choice_waits_for_the_span_it_needs_and_no_longer(machine):
    machine.step = 0.0  # readings at one moment: measure() must sleep to make its 0.1 s span
    openmp.choose_wait_policy()
    start = machine.now
    openmp.choice()
    assert machine.now - start == pytest.approx(load.WINDOW)
    openmp._choice, machine.step = None, 0.0
    load.start()
    machine.advance(0.5)  # start-up took longer than the span (the command line's usual case): no sleep
    start = machine.now
    openmp.decide()
    assert machine.now == start


@pytest.mark.parametrize("policy", ["ACTIVE", "PASSIVE", "passive"])
def test_a_policy_the_user_set_is_kept_and_nothing_is_measured(machine, monkeypatch, policy):
    monkeypatch.setenv(openmp.VARIABLE, policy)
    machine.busy = 0.0 if policy != "ACTIVE" else 2.0  # the measurement would say otherwise
    openmp.choose_wait_policy()
    chosen = openmp.choice()
    assert chosen.wait_policy == os.environ[openmp.VARIABLE] == policy
    assert "set in the environment" in chosen.why and chosen.busy_cores is None
    assert machine.readings == 0 and openmp.CHOSEN not in os.environ and not openmp._HOOK.armed


def test_a_worker_process_inherits_the_choice_and_its_record(machine, monkeypatch):
    machine.busy = 1.0
    parent = openmp.choice().to_json()
    # A worker process: the same environment, nothing chosen yet, its own (different) load.
    monkeypatch.setattr(openmp, "_choice", None)
    machine.busy, readings = 0.0, machine.readings
    openmp.choose_wait_policy()
    assert openmp.choice().to_json() == parent and parent["wait_policy"] == "PASSIVE"
    assert machine.readings == readings  # it never measures: it waits as the record says
    # A value set by hand over an inherited record is the user's, and says so.
    monkeypatch.setattr(openmp, "_choice", None)
    monkeypatch.setenv(openmp.VARIABLE, "ACTIVE")
    assert "set in the environment" in openmp.choice().why


def test_the_config_record_says_whether_threads_follow_the_load(machine, monkeypatch):
    monkeypatch.setattr(load, "_ran", {})
    machine.busy = 0.0
    assert openmp.record(2, "") == {**openmp.choice().to_json(), "threads": 2, "threads_follow_load": True,
                                    "groups_by_threads": {}}  # written before any group: none ran yet
    kept = openmp.record(1, "--threads 1")
    assert kept["threads_follow_load"] is False and kept["threads_fixed_by"] == "--threads 1"
    assert "ACTIVE" in openmp.line(2, "") and "following the load" in openmp.line(2, "")
    assert "kept by --threads 1" in openmp.line(1, "--threads 1")


class Torch:
    """torch.get_num_threads and set_num_threads."""

    def __init__(self, threads: int):
        self.threads, self.set = threads, []

    def get(self) -> int:
        return self.threads

    def put(self, n: int) -> None:
        self.threads = n
        self.set.append(n)


def test_threads_follow_the_load_between_groups(machine):
    torch = Torch(2)
    threads = load.Threads(torch.get, torch.put)
    load.start()
    assert threads.follow() is None and torch.set == []  # idle: as torch started
    machine.busy = 1.0  # another program starts
    said = threads.follow()
    assert torch.set == [1] and "2 → 1" in said and "1.00 of 2 cores busy" in said
    assert threads.follow() is None  # still busy: nothing to change
    machine.busy = 0.1  # it stopped
    assert "1 → 2" in threads.follow() and torch.set == [1, 2]
    machine.busy = 2.0  # never below one thread, never above what torch started with
    threads.follow()
    assert torch.threads == 1
    machine.busy = 0.0
    threads.follow()
    assert torch.threads == 2
    machine.busy = 1.0
    threads.follow()
    threads.restore()  # the groups are done: torch as nncmp found it
    assert torch.threads == 2 and threads.ours is None


def test_an_engine_that_runs_best_on_fewer_threads_gets_them_for_its_groups(machine):
    """plan.fewest_threads: the batch-1 SGD fast path alone on one thread, idle or not; the next group back on the
    free cores even when the span since the last look is too short to measure again."""
    torch = Torch(2)
    threads = load.Threads(torch.get, torch.put)
    load.start()
    load.new_tally()
    alone = (1, "the batch-1 SGD fast path alone runs fastest on one thread")
    said = threads.follow(alone)  # idle: two free cores, but this engine's group on one
    assert torch.set == [1] and said == f"torch threads 2 → 1: {alone[1]}"
    machine.step = 0.1  # from here the looks come too soon to measure: the last measured load holds
    assert threads.follow(alone) is None  # the next such group: nothing to change
    said = threads.follow()
    assert torch.set == [1, 2] and said == "torch threads 1 → 2: the free cores again"
    machine.busy = 1.0  # busy for half a second: one free core, the load's reason, capped or not
    machine.advance(0.5)
    said = threads.follow(alone)
    assert "2 → 1" in said and "cores busy (threads follow the load" in said and torch.threads == 1
    assert load.groups_by_threads() == {2: 1, 1: 3}
    torch.threads = 2  # a count someone else set is theirs: no engine's preference overrides it
    assert threads.follow(alone) is None and torch.threads == 2


def test_after_restore_the_next_command_starts_from_torchs_count(machine):
    """restore() forgets the last measured load: a command right after a busy one (too soon to measure) keeps
    torch's count rather than the old load's."""
    torch = Torch(2)
    threads = load.Threads(torch.get, torch.put)
    load.start()
    machine.busy = 1.0
    threads.follow()
    assert torch.threads == 1
    threads.restore()
    assert torch.threads == 2
    machine.busy, machine.step = 0.0, 0.1  # the next command's first group: too soon to measure
    assert threads.follow() is None and torch.threads == 2


def test_the_record_says_the_thread_counts_the_groups_ran_with(machine, monkeypatch):
    """Issue 31: written at the start the record said 2 threads while every group under load ran on 1."""
    monkeypatch.setattr(load, "_ran", {7: 1})  # an earlier command's group in this process (a notebook, a suite)
    load.new_tally()
    torch = Torch(2)
    threads = load.Threads(torch.get, torch.put)
    load.start()
    threads.follow()  # idle: the first group on 2
    machine.busy = 1.0
    for _ in range(3):  # busy: the next three on 1
        threads.follow()
    torch.threads = 2  # a notebook's torch.set_num_threads(2): left alone, and what the group runs with
    threads.follow()
    assert load.groups_by_threads() == {2: 2, 1: 3}
    threads.restore()  # after the groups: the count back to 2, but 1 is what three groups ran with
    kept = openmp.record(2, "")
    assert kept["threads"] == 2 and kept["groups_by_threads"] == {"2": 2, "1": 3}
    assert json.loads(json.dumps(kept))["groups_by_threads"] == {"2": 2, "1": 3}  # as config.json holds it
    assert "groups_by_threads" not in openmp.record(1, "--threads 1")  # a fixed count is what every group ran with


def test_a_thread_count_someone_else_set_is_left_alone(machine):
    torch = Torch(2)
    threads = load.Threads(torch.get, torch.put)
    load.start()
    machine.busy = 1.0
    threads.follow()
    torch.threads = 2  # torch.set_num_threads(2) in a notebook, after nncmp had set 1
    assert threads.follow() is None and torch.threads == 2 and torch.set == [1]
    fresh = load.Threads(Torch(1).get, Torch(1).put)  # set before nncmp looked: that count is the most
    assert fresh.most == 1


def test_a_span_too_short_to_tell_keeps_the_count_and_its_start(machine):
    torch = Torch(2)
    threads = load.Threads(torch.get, torch.put)
    machine.busy, machine.step = 1.0, 0.1  # groups of 0.1 s: a tick or two of counters each
    load.start()
    assert threads.follow() is None and torch.set == []
    assert threads.follow() is None
    assert threads.follow() is not None and torch.set == [1]  # 0.3 s since the last reading: enough


def test_no_counters_no_following_and_passive_waiting(machine, monkeypatch):
    monkeypatch.setattr(load, "proc_stat", lambda: None)
    monkeypatch.setattr(load, "_psutil_reading", lambda *a: None)
    monkeypatch.setattr(load.os, "getloadavg", lambda: (_ for _ in ()).throw(OSError()), raising=False)
    chosen = openmp.choice()
    assert chosen.wait_policy == "PASSIVE" and chosen.busy_cores is None and "cannot be measured" in chosen.why
    torch = Torch(2)
    assert load.Threads(torch.get, torch.put).follow() is None and torch.set == []


# A stand-in torch: what it sees in the environment when it is imported is what OpenMP would read.
FAKE_TORCH = "import os; print('torch sees', os.environ.get('OMP_WAIT_POLICY'))\n"


def _imports(tmp_path, code, **env):
    (tmp_path / "torch").mkdir(exist_ok=True)
    (tmp_path / "torch" / "__init__.py").write_text(FAKE_TORCH)
    clean = {k: v for k, v in os.environ.items() if k not in (openmp.VARIABLE, openmp.CHOSEN)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**clean, "PYTHONPATH": str(tmp_path), **env})
    return done.stdout.splitlines()


def test_import_nncmp_chooses_nothing_yet_and_importing_torch_chooses_first(tmp_path):
    out = _imports(tmp_path, "import os, nncmp; print('after nncmp', os.environ.get('OMP_WAIT_POLICY')); import torch; "
                             "from nncmp.training import openmp; print('chosen', openmp.choice().wait_policy)")
    assert out[0] == "after nncmp None"  # `import nncmp` and `nncmp --help` pay for no measurement
    assert out[1] in ("torch sees ACTIVE", "torch sees PASSIVE") and out[2] == f"chosen {out[1].split()[-1]}"
    kept = _imports(tmp_path, "import nncmp, torch", OMP_WAIT_POLICY="ACTIVE")
    assert kept == ["torch sees ACTIVE"]


@pytest.mark.slow  # another process spinning on a core; not a timing: the machine is at least that busy
def test_a_core_kept_busy_gives_passive_waiting(tmp_path):
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for _ in range(3):  # a scheduler may give the spinner a rest now and then: at least one look sees it
            out = _imports(tmp_path, "import nncmp, time; time.sleep(0.3); import torch")
            if out == ["torch sees PASSIVE"]:
                break
        assert out == ["torch sees PASSIVE"]
    finally:
        spinner.kill()
        spinner.wait()


@pytest.mark.slow  # a process that imports torch
def test_an_idle_nncmp_process_frees_its_cores(tmp_path):
    """After its threads' last parallel work, a process waits 1.5 s (a notebook between cells, a driver waiting
    for its workers): its threads spin ~30 ms and sleep, where ACTIVE alone spun the whole wait on a core (1.5 s
    of CPU). Not a timing: CPU seconds used against seconds waited; 0.5 s leaves room for a CPU that spins 10×
    slower than libgomp's estimate."""
    # nncmp's ACTIVE whatever the load here, so that the bound is what this tests on any machine
    code = ("import nncmp, time; from nncmp.training import load; load.wait_policy = lambda busy: 'ACTIVE'; "
            "import torch; from nncmp.training import openmp; assert openmp.choice().wait_policy == 'ACTIVE'; "
            "torch.set_num_threads(2); a = torch.randn(1500, 1500); (a @ a).sum(); "
            "c = time.process_time(); time.sleep(1.5); print(time.process_time() - c)")
    clean = {k: v for k, v in os.environ.items() if k not in (openmp.VARIABLE, openmp.CHOSEN, *openmp.SPIN)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean)
    assert float(done.stdout) < 0.5
