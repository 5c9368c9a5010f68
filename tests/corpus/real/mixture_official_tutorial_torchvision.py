# Modelled on: https://github.com/pytorch/tutorials/blob/009a87b0ec0b432889e865e55d3ae9e3912c306e/beginner_source/basics/optimization_tutorial.py
# Source: the official "Optimizing Model Parameters" tutorial: imports from torchvision (datasets,
#   ToTensor), a NeuralNetwork with nn.Flatten and a ReLU Sequential returning logits, learning_rate = 1e-3,
#   batch_size = 64, epochs = 10, CrossEntropyLoss, SGD, train_loop/test_loop functions with model.train()
#   and model.eval().
# What differs: the five 2-D clusters from load_training_data() instead of FashionMNIST; the torchvision
#   import is kept from the tutorial's first cell.
# Mistake: the sandbox has no torchvision (ModuleNotFoundError at the first line that imports it).
# corpus: assignment=gaussian-mixture expect=verdict:runtime_error cause=missing_package
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import ToTensor
from gradekit import load_training_data

x, y = load_training_data()
train_dataloader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 5))

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


model = NeuralNetwork()
