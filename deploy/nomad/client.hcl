# Nomad client settings for every node that runs weft (docs/deploy-nomad.md).
# Nomad reads a directory of files (nomad agent -config /etc/nomad.d), so
# this can sit beside the node's own client.hcl.

client {
  enabled = true

  # Where Debian's package puts weft-cni (as `weft` and `wg-cni`) beside
  # the reference plugins (containernetworking-plugins: bridge for Nomad's
  # own bridge mode, portmap chained after weft). Nomad's default,
  # /opt/cni/bin, would hold neither.
  cni_path = "/usr/lib/cni"

  # weft.conflist goes here; `network { mode = "cni/weft" }` finds it by
  # its "name". Nomad's default is /opt/cni/config; this is the directory
  # podman and the rest of the CNI world read.
  cni_config_dir = "/etc/cni/net.d"
}

# weftd and weft-manager run under raw_exec (weftd.hcl says why). It is off
# unless enabled: it runs tasks as the client's own user, root, with no
# isolation, so enable it only on clients whose jobs you trust (an ACL
# policy that keeps other namespaces from using it helps).
plugin "raw_exec" {
  config {
    enabled = true
  }
}
