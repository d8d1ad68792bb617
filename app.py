#!/usr/bin/env python3
"""CDK entry point: assembles the modelwatch stacks from cdk.json context; nothing else."""

from infra.assembly import build_app

build_app().app.synth()
