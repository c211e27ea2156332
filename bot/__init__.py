"""blocks-slack: a Slack app that bridges Slack threads to Blocks coding-agent sessions."""

__version__ = "0.1.0"
