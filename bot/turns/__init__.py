"""The domain: recording what Slack sends, and the steps that turn it into Blocks requests and answers."""
