"""What can be trained: datasets, models, initialisations, optimizers and learning-rate schedules, each a
name → builder (or entry) table. Registries import torch only inside their builders, so names and
defaults answer without it."""
