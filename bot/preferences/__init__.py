"""What a channel or a workspace chose in Slack (`/blocks`, App Home), over the deployment's environment.

`values` names the choices and resolves them (channel, then workspace, then deployment, each value with
where it came from); `store` reads and writes them, with a record of every change; `apply` turns them into
what a new turn works with.
"""
