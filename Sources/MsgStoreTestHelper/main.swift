import MsgStore
print("usage: MsgStoreTestHelper SCENARIO ...")
