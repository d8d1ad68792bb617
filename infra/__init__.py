"""AWS CDK infrastructure of modelwatch: config, bundling, constructs and stacks."""
