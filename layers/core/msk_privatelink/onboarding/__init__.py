"""Consumer onboarding and offboarding: what the workflows' task functions call."""
