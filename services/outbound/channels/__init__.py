"""Channel adapters: one module per channel, each the code that talks to the real provider."""
