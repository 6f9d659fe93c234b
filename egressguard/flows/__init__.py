"""The flow table: connections by 5-tuple, named from SNI, Host or earlier DNS answers."""
