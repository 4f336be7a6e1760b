"""A small 1-D CNN for MNIST-1D (signals of 40 points): the worked example of docs/your-model-and-data.md.

    nncmp compare --model examples/net1d.py:Net1d --dataset mnist1d --opts minibatch,momentum,adam,adamw \\
        --inits default,he --seeds 3
"""

from torch import nn


class Net1d(nn.Module):
    def __init__(self, input_shape, n_classes, channels=16):
        super().__init__()
        c, length = input_shape
        self.features = nn.Sequential(
            nn.Conv1d(c, channels, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(channels, channels, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        )
        self.head = nn.Linear(channels * (length // 4), n_classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))
