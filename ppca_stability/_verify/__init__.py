"""verify() and the registry of theorems it checks by property-based testing."""
