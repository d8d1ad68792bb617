"""The named experiments: hypothesis, fault, and what is checked once the fault is cleared.

Each experiment injects its fault ``duration`` seconds after a warm-up under load, clears it,
and watches for ``after`` seconds more. What callers saw and where every event went are judged
by the runner (``run.py``) for all of them; each experiment adds its own checks (``verify``).
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from modelwatch.contracts import layout
from modelwatch.contracts.manifest import ServingManifest
from modelwatch.stores.manifests import ManifestStore
from modelwatch_local.chaos import faults
from modelwatch_local.chaos.fault_proxy import FaultProxy, FaultRule
from modelwatch_local.chaos.observe import ExportLoop, HealthProbe
from modelwatch_local.load.ledger import LedgerEntry
from modelwatch_local.stack import EVENTS_BUCKET, MODELS_BUCKET, LocalStack

MODEL = "fraud_detection"
PREDICTIONS_TOTAL = "sum(modelwatch_predictions_total)"


@dataclass
class Check:
    """One claim of a hypothesis, and whether the run bore it out."""

    name: str
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class ChaosContext:
    """The running chaos stack and what experiments share."""

    stack: LocalStack
    proxy: FaultProxy
    scheduler: Any
    export: ExportLoop
    health: HealthProbe
    state: Path
    artifacts: dict[str, Path]
    manifest_ttl: float
    registry: Any = None  # a ModelRegistry on the local MLflow server, when the stack has one
    registry_versions: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def handler_output(self) -> Iterator[None]:
        """Send an in-process handler's output (its EMF lines) to the state directory's handlers.log."""
        with (self.state / "handlers.log").open("a") as log, contextlib.redirect_stdout(log):
            yield

    def manifest_version(self) -> str | None:
        """The version the production manifest names now (None: no manifest)."""
        manifest = self.manifest()
        return manifest.version if manifest is not None else None

    def manifest(self) -> ServingManifest | None:
        """The production manifest now (read straight from moto, not through the proxy)."""
        return ManifestStore(self.stack.storage(), MODELS_BUCKET).current(MODEL, "production")

    def publish(self, version: str, artifact: Path) -> ServingManifest:
        from modelwatch.registry.publishing import publish_model
        from modelwatch_local.fraud import FRAUD_SCHEMA

        return publish_model(
            artifact,
            MODEL,
            version,
            "sklearn",
            FRAUD_SCHEMA,
            MODELS_BUCKET,
            prediction_type="probability",
            source={"publisher": "make chaos"},
            storage=self.stack.storage(),
        )

    def prometheus_value(self, promql: str = PREDICTIONS_TOTAL) -> float | None:
        prometheus = self.stack.prometheus()
        if prometheus is None:
            return None
        try:
            result = prometheus.query(promql)
        except Exception:
            return None
        return float(result[0]["value"][1]) if result else None

    def export_state_total(self) -> tuple[float, list[str]]:
        """The export state's cumulative predictions and the keys it counted (via ``modelwatch.stores``)."""
        from modelwatch.contracts import catalogue
        from modelwatch.metrics.serving_metrics import ServingState
        from modelwatch.stores.state import StateStore

        store = StateStore(self.stack.storage(), EVENTS_BUCKET, layout.METRICS_EXPORT_STATE_KEY, ServingState)
        state, _ = store.load()
        total = sum(e.value for e in state.counters.values() if e.name == catalogue.PREDICTIONS_TOTAL.name)
        return total, list(state.processed)

    def kill_mlflow(self) -> None:
        faults.kill(self.stack.pids["mlflow"])

    def restart_mlflow(self) -> float:
        from modelwatch_local.mlflow_server import MLFLOW_ENV, mlflow_server_command

        port = int(self.stack.mlflow_url.rsplit(":", 1)[1])
        command = mlflow_server_command(Path(self.stack.state_dir) / "mlflow", port)
        return faults.restart_process(
            self.stack, "mlflow", command, MLFLOW_ENV, f"{self.stack.mlflow_url}/health", 240.0
        )


def versions_served(entries: Sequence[LedgerEntry]) -> list[str]:
    """The versions predictions were answered by, in order, each run of the same version once."""
    order: list[str] = []
    for entry in sorted(entries, key=lambda e: e.end):
        if entry.version is not None and (not order or order[-1] != entry.version):
            order.append(entry.version)
    return order


def first_answer_by(entries: Sequence[LedgerEntry], version: str, after: float) -> float | None:
    """Seconds after ``after`` until the first prediction answered by ``version``."""
    ends = [e.end for e in entries if e.version == version and e.end >= after]
    return round(min(ends) - after, 2) if ends else None


class Experiment:
    """An experiment: what it claims, the fault, and its own checks."""

    name: ClassVar[str]
    hypothesis: ClassVar[str]
    fault: ClassVar[str]
    needs_mlflow: ClassVar[bool] = False
    recovery_means: ClassVar[str] = (
        "serving back to its latency before the fault (see serving_recovery_seconds)"
    )
    known_defect: ClassVar[str | None] = None  # a library defect this experiment is known to find
    min_fault_seconds: ClassVar[float] = 0.0  # held at least this long, whatever the run's duration

    def __init__(self) -> None:
        self.observed: dict[str, Any] = {}
        self.recovery_seconds: float | None = None

    def prepare(self, ctx: ChaosContext) -> None:
        """Set up before the experiment's window (not timed)."""

    def inject(self, ctx: ChaosContext) -> None:
        raise NotImplementedError

    def clear(self, ctx: ChaosContext) -> None:
        raise NotImplementedError

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        """Checks of this experiment's own claims (the runner adds the common ones)."""
        return []


class CaptureHung(Experiment):
    name = "capture-hung"
    hypothesis = (
        "With moto_server (Firehose, S3 and SQS) hung, every request is still answered, with its "
        "status, within the capture budget; no event is lost (Firehose, else the DLQ, else the log); "
        "serving recovers by itself once moto_server resumes."
    )
    fault = "SIGSTOP to moto_server's process group, then SIGCONT"
    # Longer than a manifest re-read's bounds (2 attempts x (1 s connect + 5 s read)), so the hang
    # reaches capture's Firehose calls and their timeouts; the long form (30 s) reaches the log.
    min_fault_seconds = 14.0

    def inject(self, ctx: ChaosContext) -> None:
        faults.pause(ctx.stack.pids["moto"])

    def clear(self, ctx: ChaosContext) -> None:
        faults.resume(ctx.stack.pids["moto"])

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        during = [e for e in entries if window["fault_start"] <= e.t < window["fault_end"]]
        slowest = max((e.ms for e in during), default=0.0)
        budget_ms = 10_000 + 12_000 + 5_000  # capture budget, a manifest re-read's bounds, the model
        return [
            Check(
                "requests sent during the hang were answered within the bounds",
                bool(during) and all(e.status for e in during) and slowest <= budget_ms,
                f"{len(during)} requests started during the fault, slowest {slowest:.0f} ms "
                f"(bound {budget_ms} ms: capture budget 10 s + manifest read 2 x 6 s + model)",
            )
        ]


class CaptureKilled(Experiment):
    name = "capture-killed"
    hypothesis = (
        "With moto_server killed and restarted (its acknowledged state replayed, as AWS keeps it), "
        "every request is answered with its status, no event is lost, and capture resumes to S3 "
        "after the restart without restarting the API."
    )
    fault = "SIGKILL to moto_server; after the fault's duration a new moto_server on the same port"
    recovery_means = "seconds from the new moto_server's start to its state replayed"

    def inject(self, ctx: ChaosContext) -> None:
        self.observed["api_pid"] = ctx.stack.pids["api"]
        faults.kill(ctx.stack.pids["moto"])

    def clear(self, ctx: ChaosContext) -> None:
        recording = Path(ctx.stack.state_dir) / faults.RECORDING_FILE
        self.observed["recorded_requests"] = sum(1 for _ in recording.open())
        self.recovery_seconds = round(faults.restart_moto(ctx.stack), 2)

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        restarted = window["fault_end"] + (self.recovery_seconds or 0)
        after = [e for e in entries if restarted <= e.t < window["end"]]
        manifest = ctx.manifest()
        return [
            Check(
                "moto's state came back (the manifest is readable again)",
                manifest is not None,
                f"manifest version {manifest.version if manifest else None} after "
                f"{self.observed.get('recorded_requests')} recorded requests replayed "
                f"in {self.recovery_seconds} s",
            ),
            Check(
                "the same API process served before and after",
                ctx.stack.pids["api"] == self.observed["api_pid"] and bool(after),
                f"API pid {ctx.stack.pids['api']}, {len(after)} requests after the restart",
            ),
        ]


class ManifestReadErrors(Experiment):
    name = "manifest-read-errors"
    hypothesis = (
        "With every manifest read answered 503 SlowDown, the loaded version keeps serving with no "
        "error and no lost event, /health says degraded (manifest_unreadable) with status 200; a "
        "version published during the fault is served within the manifest TTL once reads succeed "
        "again."
    )
    fault = "the fault proxy answers GET manifests/* with 503 SlowDown; version 11 is published meanwhile"
    recovery_means = "seconds from the fault's end to the first prediction answered by version 11"
    min_fault_seconds = 4.0  # two manifest TTLs (2 s): a re-read meets the fault, /health's 1 s probe sees it

    def inject(self, ctx: ChaosContext) -> None:
        self.observed["serving_before"] = ctx.manifest_version()
        prefix = f"/{MODELS_BUCKET}/{layout.MANIFESTS_PREFIX}/"
        ctx.proxy.set_rule(FaultRule("GET", prefix))
        self.observed["faults_before"] = sum(n for what, n in ctx.proxy.faults.items() if "SlowDown" in what)
        ctx.publish("11", ctx.artifacts["b"])

    def clear(self, ctx: ChaosContext) -> None:
        ctx.proxy.set_rule(None)
        self.observed["fault_answers"] = (
            sum(n for what, n in ctx.proxy.faults.items() if "SlowDown" in what)
            - self.observed["faults_before"]
        )

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        during = [e for e in entries if window["fault_start"] <= e.end < window["fault_end"]]
        versions = sorted({e.version for e in during if e.version})
        self.recovery_seconds = first_answer_by(entries, "11", window["fault_end"])
        bound = ctx.manifest_ttl + 10.0
        health = ctx.health.between(window["fault_start"], window["fault_end"])
        unreadable = [text for text in health if "degraded" in text and "manifest_unreadable" in text]
        return [
            Check(
                "/health said degraded (manifest_unreadable) with status 200 during the fault",
                bool(unreadable) and all(text.startswith("200 ") for text in unreadable),
                f"/health during the fault: {health}",
            ),
            Check(
                "the fault was exercised (manifest reads answered 503)",
                self.observed["fault_answers"] > 0,
                f"{self.observed['fault_answers']} manifest reads answered 503 SlowDown",
            ),
            Check(
                "only the loaded version answered during the fault",
                versions == [self.observed["serving_before"]],
                f"versions answering during the fault: {versions}",
            ),
            Check(
                "the version published during the fault is served once reads succeed",
                self.recovery_seconds is not None and self.recovery_seconds <= bound,
                f"version 11 first answered {self.recovery_seconds} s after the fault (bound {bound:g} s)",
            ),
        ]


class CorruptArtifact(Experiment):
    name = "corrupt-artifact"
    hypothesis = (
        "A version whose artifact is corrupt, published with `modelwatch publish` (which does not "
        "load it), never answers a request: the previous version keeps serving, /health says "
        "degraded naming the failed version, and the next good version is taken."
    )
    fault = "version 12 published with an artifact of random bytes; cleared by publishing version 13"
    min_fault_seconds = 4.0  # two manifest TTLs: the failed load is seen by /health's 1 s probe
    recovery_means = "seconds from publishing version 13 to its first prediction"

    def inject(self, ctx: ChaosContext) -> None:
        import os

        corrupt = ctx.state / "corrupt.joblib"
        corrupt.write_bytes(os.urandom(4096))
        ctx.publish("12", corrupt)

    def clear(self, ctx: ChaosContext) -> None:
        ctx.publish("13", ctx.artifacts["b"])

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        health = ctx.health.between(window["fault_start"], window["fault_end"])
        degraded = [text for text in health if "failed=12:artifact_unloadable" in text]
        answered_by_12 = sum(1 for e in entries if e.version == "12")
        self.recovery_seconds = first_answer_by(entries, "13", window["fault_end"])
        return [
            Check(
                "no request was answered by the corrupt version",
                answered_by_12 == 0,
                f"{answered_by_12} answers",
            ),
            Check(
                "/health said degraded, naming version 12 and why, with status 200",
                bool(degraded) and all(text.startswith("200 ") for text in degraded),
                f"/health during the fault: {health}",
            ),
            Check(
                "the next good version was taken",
                self.recovery_seconds is not None,
                f"version 13 first answered {self.recovery_seconds} s after it was published",
            ),
        ]


class ExportStateDeleted(Experiment):
    name = "export-state-deleted"
    hypothesis = (
        "With the metrics export's state object deleted, the next run rebuilds its cumulative "
        "counters from the objects in its look-back: every object counted once, the exported "
        "counter never goes down (no reset, no double count), serving untouched."
    )
    fault = f"DELETE s3://{EVENTS_BUCKET}/{layout.METRICS_EXPORT_STATE_KEY} while the export runs every 5 s"
    recovery_means = "seconds from the deletion until the export has saved its state again"

    def prepare(self, ctx: ChaosContext) -> None:
        ctx.export.run_once()  # a counter in Prometheus to compare with

    def inject(self, ctx: ChaosContext) -> None:
        self.observed["counter_before"] = ctx.prometheus_value()
        ctx.stack.boto3_client("s3").delete_object(Bucket=EVENTS_BUCKET, Key=layout.METRICS_EXPORT_STATE_KEY)
        s3 = ctx.stack.boto3_client("s3")

        def saved_again() -> bool:
            s3.head_object(Bucket=EVENTS_BUCKET, Key=layout.METRICS_EXPORT_STATE_KEY)
            return True

        waited = faults.wait_until(saved_again, timeout=30.0)
        self.recovery_seconds = round(waited, 2) if waited is not None else None

    def clear(self, ctx: ChaosContext) -> None:
        with ctx.export.paused():
            ctx.export.run_once()
            total, keys = ctx.export_state_total()
            counter = ctx.prometheus_value()
        events = ctx.stack.events()
        recount = 0
        for key in keys:
            try:
                records = events.read(key)
            except Exception:
                continue
            recount += sum(1 for r in records if "prediction" in r and "reason" not in r)
        self.observed.update(state_total=total, recount=recount, counter_after=counter)

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        before, after = self.observed.get("counter_before"), self.observed.get("counter_after")
        series = _range_values(ctx, PREDICTIONS_TOTAL, window["start"], window["end"])
        drops = [(a, b) for a, b in itertools.pairwise(series) if b < a]
        return [
            Check(
                "the rebuilt state counted every object exactly once",
                self.observed["state_total"] == self.observed["recount"],
                f"state says {self.observed['state_total']:.0f} predictions; its objects hold "
                f"{self.observed['recount']}",
            ),
            Check(
                "the exported counter equals the state's and did not go down",
                after is not None
                and after == self.observed["state_total"]
                and before is not None
                and after >= before
                and not drops,
                f"Prometheus {before} before the deletion, {after} after; "
                f"{len(series)} points, drops {drops[:3]}",
            ),
        ]


class PrometheusDown(Experiment):
    name = "prometheus-down"
    hypothesis = (
        "With Prometheus (AMP's stand-in) down, the metrics export and a monitoring job never fail "
        "because of it (results in S3, write failures counted); once it is back, the next export "
        "writes the cumulative counters, so no count is lost; serving is untouched."
    )
    fault = "SIGKILL to Prometheus; a quality job runs during the outage; restarted on its data directory"
    recovery_means = "seconds from Prometheus's restart to the first export written to it"

    def prepare(self, ctx: ChaosContext) -> None:
        self.command = faults.process_command(ctx.stack.pids["prometheus"])

    def inject(self, ctx: ChaosContext) -> None:
        faults.kill(ctx.stack.pids["prometheus"])
        ctx.export.run_once()  # one export meets the outage, whatever the schedule's phase
        now = datetime.now(UTC)
        start = now.replace(minute=0, second=0, microsecond=0)
        try:
            with ctx.handler_output():
                result = ctx.scheduler.run_job("quality", MODEL, start, 60)
            self.observed["job"] = {"status": result.get("status"), "result_uri": result.get("result_uri")}
        except Exception as error:
            self.observed["job"] = {"raised": f"{type(error).__name__}: {error}"[:300]}

    def clear(self, ctx: ChaosContext) -> None:
        self.observed["restart_seconds"] = round(
            faults.restart_process(
                ctx.stack, "prometheus", self.command, {}, f"{ctx.stack.prometheus_url}/-/ready", 60.0
            ),
            2,
        )
        restarted = time.time()

        def written() -> bool:
            return bool(ctx.export.run_once().get("write_ok"))

        waited = faults.wait_until(written, timeout=30.0, every=0.5)
        self.recovery_seconds = round(time.time() - restarted, 2) if waited is not None else None
        with ctx.export.paused():
            ctx.export.run_once()
            total, _ = ctx.export_state_total()
            self.observed.update(state_total=total, counter_after=ctx.prometheus_value())

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        exports = ctx.export.between(window["fault_start"], window["fault_end"])
        job = self.observed.get("job", {})
        return [
            Check(
                "the export kept running and never raised (write failures counted instead)",
                exports["raised"] == 0 and exports["write_failed"] > 0,
                f"exports during the outage: {exports}",
            ),
            Check(
                "the quality job stored its result during the outage",
                job.get("status") in ("ok", "no_data") and bool(job.get("result_uri")),
                f"job: {job}",
            ),
            Check(
                "after the restart the exported counter equals the export state's",
                self.observed["counter_after"] == self.observed["state_total"],
                f"Prometheus {self.observed['counter_after']}, state {self.observed['state_total']}",
            ),
        ]


class JobKilled(Experiment):
    name = "job-killed"
    hypothesis = (
        "A drift job killed mid-window leaves no result claiming the window; the next scheduled "
        "run (not forced) computes it; serving is untouched."
    )
    fault = "SIGKILL to a process running the drift handler on the current window, once it profiles objects"
    recovery_means = "seconds the next (scheduled, unforced) run of the window took"
    kill_within_seconds: ClassVar[float] = 10.0

    def inject(self, ctx: ChaosContext) -> None:
        self.window_start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.profiles_before = self._profiles(ctx)
        log = (ctx.state / "job-killed.log").open("ab")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelwatch_local.chaos.job_process",
                "--state-dir",
                ctx.stack.state_dir,
                "--job",
                "drift",
                "--model",
                MODEL,
                "--window-start",
                self.window_start.isoformat(),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        assert process.stdout is not None
        started = process.stdout.readline().decode().strip()  # "started" once the handler is loaded
        # Killed once it has written an object's profile (mid-window), or after a bound.
        faults.wait_until(
            lambda: process.poll() is not None or self._profiles(ctx) > self.profiles_before,
            timeout=self.kill_within_seconds,
            every=0.1,
        )
        finished_first = process.poll() is not None
        faults.kill(process.pid)
        process.wait()
        self.observed.update(
            handler_started=started == "started",
            finished_before_kill=finished_first,
            profiles_written_before_kill=self._profiles(ctx) - self.profiles_before,
            result_after_kill=self._result(ctx),
        )

    def clear(self, ctx: ChaosContext) -> None:
        started = time.perf_counter()
        try:
            with ctx.handler_output():
                answer = ctx.scheduler.invoke(
                    "drift",
                    {"model": MODEL, "window_start": self.window_start.isoformat(), "window_minutes": 60},
                )
            self.observed["rerun"] = {"status": answer.get("status"), "result_uri": answer.get("result_uri")}
        except Exception as error:
            self.observed["rerun"] = {"raised": f"{type(error).__name__}: {error}"[:300]}
        self.recovery_seconds = round(time.perf_counter() - started, 2)

    def _profiles(self, ctx: ChaosContext) -> int:
        return sum(1 for _ in ctx.stack.storage().list_objects(EVENTS_BUCKET, layout.PROFILES_PREFIX))

    def _result(self, ctx: ChaosContext) -> str | None:
        from modelwatch.stores.results import ResultStore

        window_key = self.window_start.strftime("%Y-%m-%dT%H:%MZ")
        try:
            result = ResultStore(ctx.stack.storage(), EVENTS_BUCKET).read("drift", MODEL, window_key)
        except Exception as error:
            return f"unreadable: {error}"
        return result.status if result is not None else None

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        rerun = self.observed.get("rerun", {})
        return [
            Check(
                "the job was killed mid-run",
                self.observed["handler_started"]
                and not self.observed["finished_before_kill"]
                and self.observed["profiles_written_before_kill"] > 0,
                f"{self.observed['profiles_written_before_kill']} object profiles written before the kill",
            ),
            Check(
                "no result claims the window after the kill",
                self.observed["result_after_kill"] in (None, "failed"),
                f"result after the kill: {self.observed['result_after_kill']}",
            ),
            Check(
                "the next scheduled run computed the window",
                rerun.get("status") in ("ok", "no_data"),
                f"rerun: {rerun}",
            ),
        ]


class MlflowKilledDuringPromotion(Experiment):
    name = "mlflow-killed-during-promotion"
    needs_mlflow = True
    hypothesis = (
        "With MLflow killed in the middle of a promotion (the manifest prepared, as the first "
        "alias moves), serving answers throughout with no lost event; a promotion reported as "
        "failed leaves serving on the previous version; once MLflow is back one sync makes serving "
        "agree with MLflow, and the retried promotion completes."
    )
    fault = "MLflow SIGKILLed at the promotion's first alias move (registry backend wrapped); restarted"
    recovery_means = "seconds from MLflow answering again to the retried promotion's version serving"

    def prepare(self, ctx: ChaosContext) -> None:
        first, second = ctx.registry_versions
        for stage in ("staging", "production"):
            ctx.registry.promote(MODEL, first, stage, reason="chaos: baseline")
        ctx.registry.promote(MODEL, second, "staging", reason="chaos: candidate")
        faults.wait_until(lambda: _served(ctx) == first, timeout=30.0)

    def inject(self, ctx: ChaosContext) -> None:
        _, second = ctx.registry_versions
        backend = ctx.registry.backend
        switch = faults.KillSwitch(backend, {"set_alias"}, ctx.kill_mlflow)
        ctx.registry.backend = switch
        try:
            ctx.registry.promote(MODEL, second, "production", reason="chaos: killed midway")
            self.observed["promotion"] = "completed"
        except Exception as error:
            self.observed["promotion"] = f"raised {type(error).__name__}"
        finally:
            ctx.registry.backend = backend
        self.observed["killed_at"] = switch.fired_on
        self.observed["manifest_after_failed_promotion"] = ctx.manifest_version()

    def clear(self, ctx: ChaosContext) -> None:
        _, second = ctx.registry_versions
        self.observed["mlflow_restart_seconds"] = round(ctx.restart_mlflow(), 2)
        back = time.time()
        report = ctx.registry.sync_serving([MODEL])
        alias = ctx.registry.backend.get_model(MODEL).aliases.get("production")
        self.observed["after_sync"] = {
            "actions": [f"{a.alias}:{a.action}:{a.version}" for a in report.actions],
            "mlflow_production": alias,
            "manifest": ctx.manifest_version(),
        }
        ctx.registry.promote(MODEL, second, "production", reason="chaos: retried")
        waited = faults.wait_until(lambda: _served(ctx) == second, timeout=30.0)
        self.recovery_seconds = round(time.time() - back, 2) if waited is not None else None

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        first, second = ctx.registry_versions
        served = versions_served([e for e in entries if window["fault_start"] <= e.t < window["end"]])
        after_sync = self.observed["after_sync"]
        failed = self.observed["promotion"] != "completed"
        flapped = failed and second in served[: max(1, len(served) - 1)]
        return [
            Check(
                "the interrupted promotion was reported as failed",
                failed and self.observed["killed_at"] == "set_alias",
                f"promotion {self.observed['promotion']} (MLflow killed at {self.observed['killed_at']})",
            ),
            Check(
                "a promotion reported as failed left serving on the previous version",
                not flapped and self.observed["manifest_after_failed_promotion"] == first,
                f"manifest after the failed promotion: version "
                f"{self.observed['manifest_after_failed_promotion']}; versions answering from the fault on: "
                f"{served}",
            ),
            Check(
                "one sync after MLflow came back made serving agree with MLflow",
                after_sync["manifest"] == after_sync["mlflow_production"],
                f"after the sync: {after_sync}",
            ),
            Check(
                "the retried promotion completed and serves",
                self.recovery_seconds is not None,
                f"version {second} answering {self.recovery_seconds} s after MLflow was back",
            ),
        ]


class MlflowKilledDuringSync(Experiment):
    name = "mlflow-killed-during-sync"
    needs_mlflow = True
    hypothesis = (
        "With MLflow killed in the middle of a registry sync (aliases read, the version not yet "
        "fetched), the sync fails without touching the manifest, serving answers throughout with "
        "no lost event, and the first sync after MLflow is back publishes the alias's version."
    )
    fault = "the production alias moved to the previous version in MLflow (as in its UI); MLflow "
    fault += "SIGKILLed at the sync's first version read (registry backend wrapped); restarted"
    recovery_means = "seconds from MLflow answering again to the alias's version serving"

    def prepare(self, ctx: ChaosContext) -> None:
        first, _ = ctx.registry_versions
        ctx.registry.backend.set_alias(MODEL, "production", first)

    def inject(self, ctx: ChaosContext) -> None:
        before = ctx.stack.storage().get(MODELS_BUCKET, layout.manifest_key(MODEL, "production"))
        self.observed["etag_before"] = before.etag if before else None
        backend = ctx.registry.backend
        switch = faults.KillSwitch(backend, {"get_version"}, ctx.kill_mlflow)
        ctx.registry.backend = switch
        try:
            report = ctx.registry.sync_serving([MODEL])
            self.observed["sync"] = [f"{a.alias}:{a.action}:{a.error or ''}"[:200] for a in report.actions]
        except Exception as error:
            self.observed["sync"] = f"raised {type(error).__name__}"
        finally:
            ctx.registry.backend = backend
        self.observed["killed_at"] = switch.fired_on
        after = ctx.stack.storage().get(MODELS_BUCKET, layout.manifest_key(MODEL, "production"))
        self.observed["etag_after"] = after.etag if after else None

    def clear(self, ctx: ChaosContext) -> None:
        first, _ = ctx.registry_versions
        self.observed["mlflow_restart_seconds"] = round(ctx.restart_mlflow(), 2)
        back = time.time()
        report = ctx.registry.sync_serving([MODEL])
        self.observed["sync_after"] = [f"{a.alias}:{a.action}:{a.version}" for a in report.actions]
        waited = faults.wait_until(lambda: _served(ctx) == first, timeout=30.0)
        self.recovery_seconds = round(time.time() - back, 2) if waited is not None else None

    def verify(
        self, ctx: ChaosContext, entries: Sequence[LedgerEntry], window: dict[str, float]
    ) -> list[Check]:
        first, _ = ctx.registry_versions
        return [
            Check(
                "MLflow died during the sync and the sync did not report success",
                self.observed["killed_at"] == "get_version" and "published" not in str(self.observed["sync"]),
                f"sync: {self.observed['sync']}",
            ),
            Check(
                "the interrupted sync left the manifest untouched",
                self.observed["etag_before"] == self.observed["etag_after"],
                f"manifest ETag {self.observed['etag_before']} -> {self.observed['etag_after']}",
            ),
            Check(
                "the first sync after MLflow came back published the alias's version, and it serves",
                f"production:published:{first}" in self.observed["sync_after"]
                and self.recovery_seconds is not None,
                f"sync after: {self.observed['sync_after']}; version {first} answering "
                f"{self.recovery_seconds} s after MLflow was back",
            ),
        ]


def _served(ctx: ChaosContext) -> str | None:
    import httpx

    from modelwatch_local.fraud import synthetic_transactions

    instance = synthetic_transactions(1, seed=7)[0][0]
    response = httpx.post(
        f"{ctx.stack.api_url}/v1/models/{MODEL}/predict", json={"instances": [instance]}, timeout=30.0
    )
    return str(response.json().get("version")) if response.status_code == 200 else None


def _range_values(ctx: ChaosContext, promql: str, start: float, end: float) -> list[float]:
    prometheus = ctx.stack.prometheus()
    if prometheus is None:
        return []
    import json
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode(
        {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1"}
    )
    try:
        with urllib.request.urlopen(f"{prometheus.url}/api/v1/query_range?{query}", timeout=10) as response:
            data = json.loads(response.read())["data"]["result"]
    except OSError:
        return []
    return [float(value) for _, value in data[0]["values"]] if data else []


# In the order they run: the state deletion before the kill (whose replay re-delivers old objects
# under new keys, which the export counts again); the kill early (its replay grows with every
# request moto gets); the jobs early (they read every object of the hour's window).
EXPERIMENTS: tuple[Callable[[], Experiment], ...] = (
    ExportStateDeleted,
    CaptureKilled,
    JobKilled,
    PrometheusDown,
    CaptureHung,
    ManifestReadErrors,
    CorruptArtifact,
    MlflowKilledDuringPromotion,
    MlflowKilledDuringSync,
)
