"""How hyperparameters are chosen: on a split carved from the training data, never on the validation data
a table reports."""
