"""The jitted training engine: Active, Passive and Tandem runs over vmapped seeds."""
