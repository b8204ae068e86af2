# Only on the client that keeps weft-manager's state (weft-manager.hcl).
# A host volume of that name tells the scheduler where the state is, so the
# manager's allocation is placed there and nowhere else.

client {
  host_volume "weft-manager" {
    # The same directory weft-manager's --state-dir names: raw_exec
    # mounts nothing, so the task uses the path as it is on the host.
    path      = "/var/lib/weft-manager"
    read_only = false
  }
}
