"""Data access: each module reads and writes one group of tables, for every part that needs
them (the hub, the web view, the command line), so that a table has one reader and one
writer. Rules about what the data means stay with the parts; these modules only store it and
read it back, as the protocol's models or as small rows of their own."""
