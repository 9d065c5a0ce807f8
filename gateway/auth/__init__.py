"""Identity (who is calling: verified bearer JWTs → ``Principal``) and policy (what they may see)."""
