"""Data access: every table is read and written here (memories excepted: the memory store
owns them), for every part that needs them (the hub, the web view, the command line). Each
module serves one concern: a group of tables it writes, and the reads that concern needs,
which may join other groups' tables. Rules about what the data means stay with the parts;
these modules only store it and read it back, as the protocol's models or as small rows of
their own."""
