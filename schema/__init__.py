"""The unified GraphQL schema of city components (城市部件) and city events (城市事件)."""
