"""Model backends. The study talks to models through one backend; only the backend imports
its toolkit."""
