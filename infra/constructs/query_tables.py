"""SQL over the captured records: a Glue database, one table per capture kind, and an Athena workgroup.

The tables are built from ``modelwatch.contracts.tables`` (the definition the embedded engine
also reads): their columns, partition keys, SerDe and partition projection on ``model``
(injected: every query names its model), ``dt`` and ``hour``. With projection no crawler runs
and no partition is ever added: a new model or a new hour is queryable the moment Firehose
delivers it. The workgroup enforces its configuration on every query: results under the events
bucket's ``query-results/`` prefix (expired after a week), encrypted like the bucket (SSE-S3),
and a per-query cutoff of bytes scanned past which Athena cancels the query.

Access is granted per grantee (:meth:`QueryTables.grant_queries`): the workgroup's query calls,
Glue reads of this database and its three tables, reads of the three capture prefixes, and
read and write of the results prefix only.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import constants
from infra.config import ModelwatchConfig
from infra.nag import acknowledge_wildcards, nag_resource
from modelwatch.contracts import layout, tables

# What running a query in the workgroup takes (and reading its result back).
QUERY_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "athena:GetWorkGroup",
)
# What Athena reads from the Glue Data Catalog on the caller's behalf.
CATALOG_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
)
# Athena writes a query's results with multipart uploads, as the caller.
RESULTS_OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
CAPTURE_PREFIXES = (layout.EVENTS_PREFIX, layout.REJECTED_PREFIX, layout.LABELS_PREFIX)


class QueryTables(Construct):
    """The Glue database and tables over the events bucket's capture prefixes, and the Athena workgroup."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ModelwatchConfig, events_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._bucket = events_bucket
        self.database_name = config.query.database(config.project)
        self.workgroup_name = config.query.workgroup(config.project)
        self.database = self._build_database()
        self.tables = {name: self._build_table(table) for name, table in tables.TABLES.items()}
        self.workgroup = self._build_workgroup()
        self.readers_policy = self._build_readers_policy()
        CfnOutput(
            scope, "QueryWorkgroupName", value=self.workgroup_name, description="Athena workgroup for SQL"
        )
        CfnOutput(
            scope,
            "QueryDatabaseName",
            value=self.database_name,
            description="Glue database of the events, rejected and labels tables",
        )
        CfnOutput(
            scope,
            "QueryReadersPolicyArn",
            value=self.readers_policy.managed_policy_arn,
            description="Attach to people who may query the captured records in the workgroup",
        )

    @property
    def environment(self) -> dict[str, str]:
        """What a function that runs queries needs: ``MODELWATCH_QUERY_ENGINE`` and where to run them."""
        return {
            "MODELWATCH_QUERY_ENGINE": "athena",
            "MODELWATCH_ATHENA_WORKGROUP": self.workgroup_name,
            "MODELWATCH_ATHENA_DATABASE": self.database_name,
        }

    @property
    def workgroup_arn(self) -> str:
        return f"arn:{Aws.PARTITION}:athena:{Aws.REGION}:{Aws.ACCOUNT_ID}:workgroup/{self.workgroup_name}"

    def catalog_arns(self) -> list[str]:
        """The catalog, the database and its three tables: every Glue resource a query reads."""
        glue_arn = f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        return [
            f"{glue_arn}:catalog",
            f"{glue_arn}:database/{self.database_name}",
            *(f"{glue_arn}:table/{self.database_name}/{name}" for name in tables.TABLES),
        ]

    def grant_queries(self, grantee: iam.IGrantable, scope: Construct) -> None:
        """Let ``grantee`` run queries in the workgroup over the three tables, and read their results."""
        for statement in self._statements(scope):
            grantee.grant_principal.add_to_principal_policy(statement)
        acknowledge_wildcards(
            scope,
            "Athena reads the capture objects and writes query results as the caller: object-level "
            "access is limited to the three capture prefixes (keys partitioned by model and hour, "
            "not known at deploy time) and to the workgroup's result prefix.",
            resources=self._wildcard_resources(scope),
        )

    def _bucket_arn(self, scope: Construct) -> str:
        # Imported explicitly from another stack, so that cdk-nag's finding can be named exactly.
        producer = Stack.of(self._bucket)
        arn = self._bucket.bucket_arn
        return arn if producer is Stack.of(scope) else producer.export_value(arn)

    def _object_arns(self, scope: Construct) -> tuple[list[str], str]:
        bucket_arn = self._bucket_arn(scope)
        captures = [f"{bucket_arn}/{prefix}*" for prefix in CAPTURE_PREFIXES]
        return captures, f"{bucket_arn}/{layout.QUERY_RESULTS_PREFIX}*"

    def _wildcard_resources(self, scope: Construct) -> tuple[str, ...]:
        captures, results = self._object_arns(scope)
        return tuple(nag_resource(scope, arn) for arn in [*captures, results])

    def _statements(self, scope: Construct) -> list[iam.PolicyStatement]:
        bucket_arn = self._bucket_arn(scope)
        captures, results = self._object_arns(scope)
        return [
            iam.PolicyStatement(actions=list(QUERY_ACTIONS), resources=[self.workgroup_arn]),
            iam.PolicyStatement(actions=list(CATALOG_ACTIONS), resources=self.catalog_arns()),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=captures),
            iam.PolicyStatement(actions=list(RESULTS_OBJECT_ACTIONS), resources=[results]),
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[bucket_arn],
            ),
        ]

    def _build_database(self) -> glue.CfnDatabase:
        return glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="modelwatch: captured prediction events, rejected requests and labels",
            ),
        )

    def _build_table(self, table: tables.CaptureTable) -> glue.CfnTable:
        bucket = self._bucket.bucket_name
        resource = glue.CfnTable(
            self,
            f"{table.name.title()}Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=table.name,
                description=table.comment,
                table_type="EXTERNAL_TABLE",
                parameters=tables.projection_parameters(bucket, table),
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=key, type="string") for key in tables.PARTITION_KEYS
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue.CfnTable.ColumnProperty(name=c.name, type=c.type, comment=c.comment)
                        for c in table.columns
                    ],
                    location=tables.location_root(bucket, table),
                    input_format=tables.INPUT_FORMAT,
                    output_format=tables.OUTPUT_FORMAT,
                    compressed=True,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=tables.JSON_SERDE, parameters=tables.serde_parameters()
                    ),
                ),
            ),
        )
        resource.node.add_dependency(self.database)
        return resource

    def _build_workgroup(self) -> athena.CfnWorkGroup:
        bucket = self._bucket.bucket_name
        return athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=self.workgroup_name,
            description="modelwatch: SQL over the captured records (jobs and people)",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=self._config.query.bytes_scanned_cutoff_per_query,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=constants.ATHENA_ENGINE_VERSION
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=layout.s3_uri(bucket, layout.QUERY_RESULTS_PREFIX),
                    # The events bucket's own encryption (infra.constructs.storage: SSE-S3).
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def _build_readers_policy(self) -> iam.ManagedPolicy:
        """For people: the same access as the jobs' (query, catalog, capture reads, results)."""
        policy = iam.ManagedPolicy(
            self,
            "QueryReaders",
            description="Query the captured records in the modelwatch Athena workgroup",
            statements=self._statements(self),
        )
        acknowledge_wildcards(
            policy,
            "Athena reads the capture objects and writes query results as the caller: object-level "
            "access is limited to the three capture prefixes and to the workgroup's result prefix.",
            resources=self._wildcard_resources(self),
        )
        return policy
