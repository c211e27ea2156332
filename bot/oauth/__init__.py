"""Installs from Slack: where installations, OAuth states and workspaces' Blocks keys are kept.

- `store.DatabaseInstallationStore`: slack-sdk's InstallationStore over our tables, tokens encrypted.
- `state.DatabaseOAuthStateStore`: slack-sdk's OAuthStateStore, each state good once, for a while.
- `workspace_keys.WorkspaceKeys`: the Blocks keys a workspace connected.
- `reencrypt.reencrypt_secrets`: every stored secret under the current encryption key (rotation).
"""
