"""The worker side of a tuning study (:mod:`mdm_ot.tuning._engine` is the face): open the
Optuna storage, claim queued trials exactly once, evaluate them in worker threads with a
heartbeat, fail and re-queue what died or may be retried, stop cleanly on Ctrl-C.

References:
  docs/tuning.md (storage layout, resume, workers).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence

from mdm_ot.tuning._protocol import EvaluationError, make_request, schedule_spec

__all__ = ["CARRIED", "DEFINING", "QUEUED", "SETTINGS", "Driver", "check_settings", "file_lock", "finished", "open_storage", "redact_url",
           "parse_worker_env", "resolved", "values_of"]

SETTINGS = "mdm_ot.settings"
QUEUED = "mdm_ot.queued"
# The settings that define a study: a re-run must give the same ones (the number of trials
# may grow: a sampler study continues).
DEFINING = ("mode", "grid", "steps", "length", "direction", "two_stage", "coarse_size", "fine_size", "top_k",
            "fine_step", "seed", "baselines")
# The user attributes a queued trial carries into its re-runs.
CARRIED = ("schedule", "stage", "subset_size", "seed", "attempt")
_STORAGE_HELP = "sqlite:///FILE, postgresql://USER:PASSWORD@HOST/DB, mysql://USER:PASSWORD@HOST/DB"


def _optuna():
    import optuna

    return optuna


def redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing to hide
        return url


def _requeue_dead(study, trial) -> None:
    """Optuna's stale-trial callback: a queued trial whose worker died is queued again."""
    if trial.user_attrs.get("sampled"):
        return  # a sampled trial: the sampler proposes a fresh one instead
    attrs = {k: trial.user_attrs[k] for k in CARRIED if k in trial.user_attrs}
    study.enqueue_trial(trial.system_attrs.get("fixed_params", {}), user_attrs={**attrs, "requeued_from": trial.number})


@contextlib.contextmanager
def file_lock(path: str):
    """An exclusive ``flock`` on ``path`` (created if missing), across processes and threads
    (each call opens the file anew, and flock excludes between open files)."""
    import fcntl

    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_OPEN_ATTEMPTS = 5


def _creation_race(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(k in text for k in ("already exists", "uniqueviolation", "duplicate key", "integrityerror"))


def open_storage(url: str, *, heartbeat: int = 10, check_only: bool = False):
    """An Optuna ``RDBStorage`` for ``url`` with a heartbeat every ``heartbeat`` seconds
    (grace period: 2 heartbeats + 2 s).

    ``check_only`` validates a SQLite URL without creating the file (bad input must leave
    nothing behind); other URLs are always opened, which connects.

    Raises:
      ValueError: for a URL that is not a database URL, an in-memory SQLite database, a
        missing folder, a missing driver or a server that cannot be reached.
    """
    optuna = _optuna()
    from sqlalchemy.engine import make_url

    if not isinstance(heartbeat, int) or heartbeat < 1:
        raise ValueError(f"--heartbeat must be an integer >= 1 (seconds), got {heartbeat!r}")
    try:
        u = make_url(url)
    except Exception:
        raise ValueError(f"--storage: {url!r} is not a database URL; allowed: {_STORAGE_HELP}") from None
    kwargs: dict = {}
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise ValueError("--storage: an in-memory SQLite database is neither shared nor kept; allowed: " + _STORAGE_HELP)
        folder = os.path.dirname(os.path.abspath(u.database))
        if not os.path.isdir(folder):
            raise ValueError(f"--storage: the folder {folder!r} of the SQLite file does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"--storage: the folder {folder!r} of the SQLite file is not writable")
        kwargs = {"connect_args": {"timeout": 120}}  # many workers wait for the file lock
        if check_only:
            return None
    lock = file_lock(u.database + ".lock") if u.get_backend_name() == "sqlite" else contextlib.nullcontext()
    # SQLite: the first processes on a new file would race to create the tables
    with lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=int(heartbeat),
                                                  grace_period=2 * int(heartbeat) + 2,
                                                  heartbeat_stale_trial_callback=_requeue_dead)
                break
            except Exception as exc:  # driver missing, server down, bad credentials: one line
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                # Workers that open a new server database together race to create Optuna's
                # tables (PostgreSQL: a unique violation on pg_type); the loser retries, and
                # then finds the tables made.
                if attempt + 1 < _OPEN_ATTEMPTS and _creation_race(exc):
                    time.sleep(0.2 + random.random())
                    continue
                raise ValueError(f"--storage: cannot open {redact_url(url)}: {why}; allowed: {_STORAGE_HELP}") from None
    if u.get_backend_name() == "sqlite":
        _fast_sqlite(storage.engine)
    return storage


def _fast_sqlite(engine) -> None:
    """Write-ahead log and fewer fsyncs: a commit costs well under a millisecond instead of
    ~10 ms, and a killed process still loses nothing it committed (a power cut may lose the
    last commits). Readers no longer block the writer, so workers wait less."""
    import sqlalchemy

    def pragmas(conn, _record):
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    sqlalchemy.event.listen(engine, "connect", pragmas)
    engine.dispose()  # the connection that created the tables predates the listener


def parse_worker_env(text: str | None, workers: int) -> list[dict]:
    """One environment per worker from ``'VAR=V VAR2=W;VAR=X ...'`` (workers separated by
    ``;``, assignments by spaces); ``None`` gives every worker the plain environment.

    Raises:
      ValueError: for a bad assignment or a count that is not ``workers``.
    """
    if text is None:
        return [{} for _ in range(workers)]
    envs = []
    for part in text.split(";"):
        env = {}
        for word in part.split():
            name, eq, value = word.partition("=")
            if not eq or not name.isidentifier():
                raise ValueError(f"--worker-env: {word!r} is not VAR=VALUE; allowed: 'VAR=V [VAR2=W];VAR=X;...' "
                                 "(one group per worker)")
            env[name] = value
        envs.append(env)
    if len(envs) != workers:
        raise ValueError(f"--worker-env: {len(envs)} groups for {workers} workers; give one group per worker, separated by ';'")
    return envs




# ----------------------------------------------------------------------------- the driver


class Driver:
    """One process's part of a study: claims queued trials (or asks the sampler), evaluates
    them in ``workers`` threads (each evaluation of a command is its own process group),
    reports back, and re-queues what failed and may be retried."""

    def __init__(self, storage, url, evaluate, settings, *, envs, retries, timeout, heartbeat, poll, progress):
        self.storage, self.url, self.evaluate, self.settings = storage, url, evaluate, settings
        self.envs, self.retries, self.timeout, self.heartbeat, self.poll = envs, retries, timeout, heartbeat, poll
        self.progress = progress
        self.stop = threading.Event()
        self.current: dict[int, object] = {}  # worker -> (study, trial) being evaluated
        self._local = threading.Lock()
        self._waiting: dict[str, list[int]] = {}  # study -> ids of queued trials last seen waiting
        from sqlalchemy.engine import make_url

        u = make_url(url)
        self.lock_path = u.database + ".lock" if u.get_backend_name() == "sqlite" else None

    # -- storage helpers -------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self):
        """SQLite: one claim or clean-up at a time across processes (its reads and writes
        are not one transaction); a server database locks the rows itself."""
        if self.lock_path is None:
            yield
            return
        with self._local, file_lock(self.lock_path):
            yield

    def study(self, name: str, *, create: Callable | None = None, wait_for: str | None = None):
        """Load study ``name``, creating it first (and running ``create(study)``) when it is
        not there; a loader waits until attribute ``wait_for`` is set by its creator."""
        optuna = _optuna()
        sampler = self.sampler()
        try:
            study = optuna.create_study(storage=self.storage, study_name=name, sampler=sampler,
                                        direction=self.settings["direction"])
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=name, storage=self.storage, sampler=sampler)
        else:
            if create is not None:
                create(study)
            return study
        deadline = time.monotonic() + 4 * self.heartbeat + 10
        while wait_for is not None and wait_for not in study.user_attrs and time.monotonic() < deadline:
            time.sleep(self.poll)
        return study

    def sampler(self):
        optuna = _optuna()
        mode, seed = self.settings["mode"], self.settings["seed"]
        if mode == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        if mode == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        return optuna.samplers.RandomSampler(seed=seed)  # queued trials have fixed params

    def trials(self, study, states=None):
        return study.get_trials(deepcopy=False, states=states)

    def claim(self, study):
        """A queued trial of ``study`` now RUNNING for this process, or None."""
        optuna = _optuna()
        from optuna.trial import TrialState

        with self.lock():
            for refresh in (False, True):
                ids = self._waiting.get(study.study_name, [])
                if refresh or not ids:
                    # the storage itself, not the study's cache: one query for the waiting trials,
                    # kept for the next claims (a trial another worker took is skipped below)
                    sid = self.storage.get_study_id_from_name(study.study_name)
                    ids = [t._trial_id for t in self.storage.get_all_trials(sid, deepcopy=False,
                                                                            states=(TrialState.WAITING,))]
                while ids:
                    tid = ids.pop(0)
                    try:
                        taken = self.storage.set_trial_state_values(tid, TrialState.RUNNING)
                    except optuna.exceptions.UpdateFinishedTrialError:
                        taken = False
                    if taken:
                        self._waiting[study.study_name] = ids
                        self.storage.record_heartbeat(tid)
                        return optuna.trial.Trial(study, tid)
                self._waiting[study.study_name] = ids
        return None

    def reap(self, study) -> None:
        """Fail the RUNNING trials whose heartbeat stopped (their worker died) and queue
        them again (:func:`_requeue_dead`)."""
        optuna = _optuna()
        with self.lock(), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)

    @contextlib.contextmanager
    def beating(self, trial_id: int):
        done = threading.Event()

        def beat():
            while not done.wait(self.heartbeat):
                with contextlib.suppress(Exception):  # a missed beat only risks a re-run
                    self.storage.record_heartbeat(trial_id)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()

    # -- one trial -------------------------------------------------------------------

    def run_trial(self, study, trial, worker: int, bounds) -> None:
        from optuna.trial import TrialState

        attrs = dict(trial.user_attrs)
        spec = attrs["schedule"]
        ab = schedule_spec(spec)[1]
        if ab is not None and "a" not in trial.params:
            trial.suggest_float("a", bounds[0], bounds[1], log=True)
            trial.suggest_float("b", bounds[2], bounds[3], log=True)
        s = self.settings
        request = make_request(spec, s["steps"], length=s["length"], stage=attrs["stage"],
                               subset_size=attrs["subset_size"], seed=attrs["seed"], trial=trial.number)
        trial.set_user_attr("model_calls", request["model_calls"])
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}:{worker}")
        self.current[worker] = (study, trial)
        started = time.monotonic()
        try:
            with self.beating(trial._trial_id):
                answer = self.evaluate(request, self.envs[worker], self.stop)
        except EvaluationError as exc:
            interrupted = self.stop.is_set()
            attempt = int(attrs.get("attempt", 0))
            with contextlib.suppress(Exception):  # the trial may already be failed by a clean-up
                trial.set_user_attr("fail_reason", exc.reason)
                trial.set_user_attr("stderr_tail", exc.stderr_tail)
                if interrupted or attempt < self.retries:
                    carried = {k: attrs[k] for k in CARRIED if k in attrs}
                    carried["attempt"] = attempt + (0 if interrupted else 1)
                    study.enqueue_trial({"a": ab[0], "b": ab[1]} if ab else {}, user_attrs={**carried, "retry_of": trial.number})
                else:
                    trial.set_user_attr("final_failure", True)
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            self.report(study, trial.number, None, spec, exc.reason)
            return
        finally:
            self.current.pop(worker, None)
        for key, value in answer.items():
            if key != "score":
                trial.set_user_attr(f"metric_{key}", value)
        trial.set_user_attr("duration_s", round(time.monotonic() - started, 3))
        study.tell(trial, answer["score"], skip_if_finished=True)
        self.report(study, trial.number, answer["score"], spec, None)

    # -- progress --------------------------------------------------------------------

    def start_progress(self, label: str, total: int, done: int) -> None:
        self._label, self._total, self._done0, self._t0 = label, total, done, time.monotonic()
        self._done = done
        self._best: tuple | None = None

    def report(self, study, number, score, spec, failure) -> None:
        if not self.progress:
            return
        with self._local:
            self._done += 1
            sign = -1.0 if self.settings["direction"] == "maximize" else 1.0
            if score is not None and (self._best is None or sign * score < sign * self._best[0]):
                self._best = (score, spec)
            rate = (self._done - self._done0) / max(time.monotonic() - self._t0, 1e-9)
            left = max(self._total - self._done, 0)
            eta = f"{left / rate:.0f} s" if rate > 0 else "?"
            what = f"failed ({failure})" if failure else f"{score:.6g}"
            best = f"{self._best[0]:.6g} at {self._best[1]}" if self._best else "none yet"
            sys.stderr.write(f"tune {self._label}: trial {number} {spec}: {what}; {min(self._done, self._total)}/"
                             f"{self._total} done, best so far {best}, ETA {eta}\n")
            sys.stderr.flush()

    # -- a pass over queued points ---------------------------------------------------

    def queued(self, name: str, specs: Sequence[str], *, stage: str, subset_size, seed: int,
               settings: dict | None = None) -> dict:
        """Evaluate every spec once in study ``name`` (queued, exactly once unless a worker
        dies); return ``{spec: score}`` (NaN for a spec that failed for good)."""
        specs = list(dict.fromkeys(specs))
        betas = [ab for ab in (schedule_spec(x)[1] for x in specs) if ab is not None]
        bounds = _bounds(betas)

        def create(study):
            if settings is not None:
                study.set_user_attr(SETTINGS, settings)
            study.set_user_attr("mdm_ot.bounds", list(bounds))
            for spec in specs:
                ab = schedule_spec(spec)[1]
                study.enqueue_trial({"a": ab[0], "b": ab[1]} if ab else {}, user_attrs={
                    "schedule": spec, "stage": stage, "subset_size": subset_size, "seed": seed})
            study.set_user_attr(QUEUED, len(specs))

        study = self.study(name, create=create, wait_for=QUEUED)
        if settings is not None:
            check_settings(study, settings)
        bounds = tuple(study.user_attrs.get("mdm_ot.bounds", bounds))
        trials = self.trials(study)
        done = sum(1 for s in specs if resolved(trials, s))
        self.start_progress(f"{name} [{stage}]", len(specs), done)
        self.workers(lambda w: self.drain(study, specs, w, bounds))
        return values_of(self.trials(study), specs)

    def drain(self, study, specs, worker, bounds) -> None:
        from optuna.trial import TrialState

        orphan_since = None
        while not self.stop.is_set():
            trial = self.claim(study)
            if trial is not None:
                self.run_trial(study, trial, worker, bounds)
                continue
            trials = self.trials(study)
            if any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials):
                orphan_since = None
                self.reap(study)
                time.sleep(self.poll)
                continue
            orphans = [s for s in specs if not resolved(trials, s)]
            if not orphans:
                return
            # Not resolved and not queued: a worker died between failing and re-queueing,
            # or a creator died while queueing. Wait out the window, then queue them again.
            orphan_since = orphan_since or time.monotonic()
            if time.monotonic() - orphan_since > 2 * self.heartbeat + 2:
                with self.lock():
                    trials = self.trials(study)
                    busy = any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials)
                    for spec in ([] if busy else [s for s in specs if not resolved(trials, s)]):
                        ab = schedule_spec(spec)[1]
                        stage = next((t.user_attrs for t in trials if t.user_attrs.get("schedule") == spec), None)
                        attrs = stage or {"schedule": spec, "stage": "full", "subset_size": None,
                                          "seed": self.settings["seed"]}
                        study.enqueue_trial({"a": ab[0], "b": ab[1]} if ab else {},
                                            user_attrs={k: attrs[k] for k in CARRIED if k in attrs})
                orphan_since = None
            time.sleep(self.poll)

    # -- a sampler search ------------------------------------------------------------

    def sampled(self, name: str, trials: int, bounds, settings: dict) -> None:
        def create(study):
            study.set_user_attr(SETTINGS, settings)

        study = self.study(name, create=create, wait_for=SETTINGS)
        check_settings(study, settings)
        if study.user_attrs[SETTINGS].get("trials") != trials:  # a study may be continued for more trials
            study.set_user_attr(SETTINGS, {**study.user_attrs[SETTINGS], "trials": trials, "evaluator": settings["evaluator"]})
        done = sum(1 for t in self.trials(study) if finished(t))
        self.start_progress(f"{name} [{settings['mode']}]", trials, done)
        self.workers(lambda w: self.sample(study, trials, w, bounds))

    def sample(self, study, total, worker, bounds) -> None:
        from optuna.trial import TrialState

        while not self.stop.is_set():
            trial = self.claim(study)  # a retry first
            if trial is None:
                with self.lock():
                    trials = self.trials(study)
                    pending = sum(1 for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING))
                    if sum(1 for t in trials if finished(t)) + pending < total:
                        with warnings.catch_warnings():  # we beat the heart ourselves (beating)
                            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                            trial = study.ask()
                        self.storage.record_heartbeat(trial._trial_id)
                if trial is None:
                    if not pending:
                        return
                    self.reap(study)
                    time.sleep(self.poll)
                    continue
                a = trial.suggest_float("a", bounds[0], bounds[1], log=True)
                b = trial.suggest_float("b", bounds[2], bounds[3], log=True)
                for key, value in (("schedule", schedule_spec((a, b))[0]), ("stage", "full"), ("subset_size", None),
                                   ("seed", self.settings["seed"]), ("sampled", True)):
                    trial.set_user_attr(key, value)
            self.run_trial(study, trial, worker, bounds)

    # -- workers ---------------------------------------------------------------------

    def workers(self, body: Callable[[int], None]) -> None:
        """Run ``body(worker)`` in one thread per worker; on Ctrl-C stop them, fail the
        trials still running (queued again for the next run) and re-raise."""
        errors: list[BaseException] = []
        done = [threading.Event() for _ in self.envs]

        def run(w):
            try:
                body(w)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
                self.stop.set()
            finally:
                done[w].set()

        for w in range(len(self.envs)):
            threading.Thread(target=run, args=(w,), daemon=True).start()
        # Events, not Thread.join: an interrupt that lands inside join() can leave the
        # thread looking finished (CPython), and the clean-up below would not wait for it.
        try:
            while not all(d.is_set() for d in done):
                time.sleep(0.05)
        except KeyboardInterrupt:
            self.stop.set()  # commands are killed within 0.1 s; their trials failed and re-queued
            deadline = time.monotonic() + 5
            for d in done:
                d.wait(max(0.0, deadline - time.monotonic()))
            self.abandon()
            raise
        if errors:
            raise errors[0]

    def abandon(self) -> None:
        """Fail (and queue again) the trials of in-process evaluations that are still running."""
        from optuna.trial import TrialState

        for study, trial in list(self.current.values()):
            with contextlib.suppress(Exception):
                attrs = dict(trial.user_attrs)
                if not attrs.get("sampled"):
                    ab = schedule_spec(attrs["schedule"])[1]
                    study.enqueue_trial({"a": ab[0], "b": ab[1]} if ab else {},
                                        user_attrs={k: attrs[k] for k in CARRIED if k in attrs})
                trial.set_user_attr("fail_reason", "interrupted")
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def _bounds(betas) -> tuple[float, float, float, float]:
    if not betas:
        return (0.1, 1.0, 0.1, 1.0)
    a = [p[0] for p in betas]
    b = [p[1] for p in betas]
    return (min(a), max(a), min(b), max(b))


def finished(t) -> bool:
    from optuna.trial import TrialState

    return t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and t.user_attrs.get("final_failure", False))


def resolved(trials, spec) -> bool:
    return any(finished(t) and t.user_attrs.get("schedule") == spec for t in trials)


def values_of(trials, specs) -> dict:
    """``{spec: score}`` of the first complete trial of each spec (NaN if none)."""
    from optuna.trial import TrialState

    out = {s: math.nan for s in specs}
    seen = set()
    for t in sorted(trials, key=lambda t: t.number):
        s = t.user_attrs.get("schedule")
        if t.state == TrialState.COMPLETE and s in out and s not in seen:
            out[s] = float(t.value)
            seen.add(s)
    return out


def check_settings(study, settings: dict) -> None:
    stored = study.user_attrs.get(SETTINGS)
    if stored is None:
        raise ValueError(f"--study: {study.study_name!r} exists but was not made by mdm-ot tune (no settings); "
                         "use another --study")
    diff = [f"{k} {stored.get(k)!r} (stored) vs {settings.get(k)!r}" for k in DEFINING if stored.get(k) != settings.get(k)]
    if diff:
        raise ValueError(f"--study: {study.study_name!r} exists with other settings: {'; '.join(diff)}; "
                         "re-run with the same options to resume, or use another --study")
