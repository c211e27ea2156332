"""The test rig, part of the product: a Blocks API simulator, a Slack Web API stub, a signed-event sender
and a small threaded server to run them, each runnable on its own (`blocks-slack sim blocks|slack`)."""
