# Modelled on: https://stackoverflow.com/questions/53628622 ("Loss function & its inputs for binary
#   classification PyTorch"), seen through its copies on tarikbilla.com and gamingcommission.club
# Source: a binary classifier with two output units; the answer: with one output use a sigmoid and BCELoss
#   (or raw output and BCEWithLogitsLoss); with two outputs use CrossEntropyLoss, which holds the softmax.
# What differs: XOR's four corners from load_training_data(); the two-output CrossEntropyLoss version the
#   answer calls valid, with a 2-16-2 tanh network.
# Mistake: none in training; the assignment reads one logit per input, not two scores.
# corpus: assignment=xor expect=fail cause=output_convention
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradekit import load_training_data


class Classifier(nn.Module):
    def __init__(self):
        super(Classifier, self).__init__()
        self.fc1 = nn.Linear(2, 16)
        self.fc2 = nn.Linear(16, 2)

    def forward(self, x):
        x = torch.tanh(self.fc1(x))
        return self.fc2(x)


inputs, labels = load_training_data()
labels = labels.long()
clf = Classifier()
optimizer = torch.optim.Adam(clf.parameters(), lr=0.02)
for epoch in range(600):
    optimizer.zero_grad()
    loss = F.cross_entropy(clf(inputs), labels)
    loss.backward()
    optimizer.step()
print("accuracy", (clf(inputs).argmax(1) == labels).float().mean().item())
