# Modelled on: https://github.com/IKMLab/course_material/issues/3 (PyTorch-基本功能.ipynb before the fix)
# Source: a course tutorial: class MyDataset(Dataset) drawing x uniform in [-1, 1] with y = 2x^2 + 3x + 17, a
#   custom collate_fn building [N, 1] tensors, DataLoader(batch_size=50, shuffle=True), MyModel(in_dim,
#   hid_dim=10, out_dim) with layer1 -> F.relu -> layer2, MSELoss, SGD at lr 0.0001, 5 epochs, then a
#   no_grad evaluation pass printing the training and testing loss each epoch; no optimizer.zero_grad().
# What differs: the paraboloid (two inputs in [0, 1]); 25 epochs; the evaluation pass on a test set.
# Mistake the maintainers labelled a bug: optimizer.zero_grad() is missing (and lr 1e-4 is tiny).
# corpus: assignment=paraboloid expect=fail cause=gradients_not_zeroed|learning_rate_too_small
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class MyDataset(Dataset):
    def __init__(self, size):
        self.x = torch.rand(size, 2)
        self.y = (self.x**2).sum(dim=1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], self.y[index]


def collate_fn(batch):
    batch_x = torch.stack([item[0] for item in batch])
    batch_y = torch.tensor([[item[1]] for item in batch])
    return batch_x, batch_y


class MyModel(nn.Module):
    def __init__(self, in_dim, hid_dim, out_dim):
        super(MyModel, self).__init__()
        self.layer1 = nn.Linear(in_dim, hid_dim)
        self.layer2 = nn.Linear(hid_dim, out_dim)

    def forward(self, x):
        return self.layer2(F.relu(self.layer1(x)))


train_data_loader = DataLoader(MyDataset(1000), batch_size=50, shuffle=True, collate_fn=collate_fn)
test_data_loader = DataLoader(MyDataset(500), batch_size=50, shuffle=False, collate_fn=collate_fn)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = MyModel(in_dim=2, hid_dim=10, out_dim=1).to(device)
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.0001)

n_epoch = 25
for epoch in range(n_epoch):
    for batch_x, batch_y in train_data_loader:
        batch_x, batch_y = batch_x.to(device), batch_y.to(device)
        pred_y = model(batch_x)
        loss = criterion(pred_y, batch_y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        test_loss = sum(criterion(model(bx), by).item() for bx, by in test_data_loader)
    print("Epoch {}, testing loss: {}".format(epoch, test_loss / len(test_data_loader)))
