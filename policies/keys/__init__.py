"""What a key looks like and how secrets are digested and encrypted."""
