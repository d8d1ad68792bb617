"""The platform's own CloudWatch alarms that stop an AWS FIS experiment: what callers and capture see.

Every experiment stops when the platform's promise is at risk, whatever the fault: callers get
more server errors than the injected share explains, p99 latency nears the functions' timeout,
or capture had to keep records in the log only (Firehose *and* the dead-letter queue failed).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig


class ChaosAlarms(Construct):
    """Three alarms, each usable as a stop condition: server errors, p99 latency, capture kept in logs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ModelwatchConfig, api: apigw.IHttpApi
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._api = api
        self.server_errors = self._build_server_errors()
        self.latency = self._build_latency()
        self.capture_logged = self._build_capture_logged()

    @property
    def arns(self) -> list[str]:
        """The three alarms' ARNs, as FIS stop conditions take them."""
        return [self.server_errors.alarm_arn, self.latency.alarm_arn, self.capture_logged.attr_arn]

    def _api_metric(self, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map={"ApiId": self._api.api_id},
            statistic=statistic,
            period=Duration.seconds(constants.CHAOS_ALARM_PERIOD_S),
        )

    def _build_server_errors(self) -> cloudwatch.Alarm:
        share = cloudwatch.MathExpression(
            expression="100 * errors / MAX([requests, 1])",
            using_metrics={
                "errors": self._api_metric("5xx", "Sum"),
                "requests": self._api_metric("Count", "Sum"),
            },
            label="5xx share of requests (%)",
            period=Duration.seconds(constants.CHAOS_ALARM_PERIOD_S),
        )
        return share.create_alarm(
            self,
            "ServerErrors",
            alarm_name=f"{self._config.project}-api-5xx-share",
            alarm_description=(
                f"More than {self._config.chaos.max_5xx_percent:g}% of API requests answered 5xx: more than "
                "an experiment's injected errors explain. Stops every FIS experiment of modelwatch."
            ),
            threshold=self._config.chaos.max_5xx_percent,
            evaluation_periods=constants.CHAOS_ALARM_EVALUATION_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _build_latency(self) -> cloudwatch.Alarm:
        return self._api_metric("Latency", "p99").create_alarm(
            self,
            "Latency",
            alarm_name=f"{self._config.project}-api-p99-latency",
            alarm_description=(
                f"API p99 latency above {self._config.chaos.max_p99_latency_ms} ms, near the predict "
                "functions' timeout. Stops every FIS experiment of modelwatch."
            ),
            threshold=self._config.chaos.max_p99_latency_ms,
            evaluation_periods=constants.CHAOS_ALARM_EVALUATION_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _build_capture_logged(self) -> cloudwatch.CfnAlarm:
        # Serving emits CaptureFailures (namespace modelwatch) with dimensions stream and outcome;
        # a Metrics Insights query sums every stream's "logged" outcome without naming them.
        namespace = constants.POWERTOOLS_METRICS_NAMESPACE
        return cloudwatch.CfnAlarm(
            self,
            "CaptureLogged",
            alarm_name=f"{self._config.project}-capture-logged-only",
            alarm_description=(
                "Capture kept event records in the log only: Firehose and the capture dead-letter queue "
                "both refused them. Stops every FIS experiment of modelwatch (data at risk)."
            ),
            metrics=[
                cloudwatch.CfnAlarm.MetricDataQueryProperty(
                    id="logged",
                    expression=(f"SELECT SUM(CaptureFailures) FROM \"{namespace}\" WHERE outcome = 'logged'"),
                    period=constants.CHAOS_ALARM_PERIOD_S,
                    return_data=True,
                )
            ],
            threshold=0,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )
