# An example job on weft's network (seed 003's sleep job): two busybox
# allocations, each with its own network namespace, eth0 and an address
# from its node's pod subnet; they reach each other across nodes over the
# nodes' WireGuard mesh. `weft pods` on a node shows them as sleep.sleep.

job "sleep" {
  type = "service"

  group "sleep" {
    count = 2

    network {
      # The conflist named "weft" in the client's cni_config_dir
      # (weft.conflist). A port here, `port "http" { to = 80 }`, is
      # published on the node by portmap, chained after weft.
      mode = "cni/weft"
    }

    task "sleep" {
      driver = "docker"

      config {
        image   = "busybox:1.36"
        command = "sleep"
        args    = ["infinity"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
