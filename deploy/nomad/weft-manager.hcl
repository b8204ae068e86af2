# weft-manager, the cluster's control plane, as a Nomad service job
# (docs/deploy-nomad.md). One manager on its SQLite store; several need a
# shared etcd store (--store etcd:...) and a shared CA (docs/manager.md).

job "weft-manager" {
  type = "service"

  group "manager" {
    count = 1

    # The state (the CA that every node pins, the admin and reader tokens,
    # the SQLite store of nodes and subnets) must outlive the allocation: a
    # new CA would cut every node off, and a new store would hand out
    # subnets already in use. Nomad deletes an allocation's directories
    # (NOMAD_ALLOC_DIR, NOMAD_TASK_DIR) when it replaces or collects it, so
    # the state lives on the host, in /var/lib/weft-manager. Claiming the
    # host volume of that name (manager-volume.hcl, on one client) keeps the
    # manager on the client that holds it: a rescheduled or updated
    # allocation starts where its state is. If that client is lost, the
    # nodes keep their peers and wait (docs/manager.md); restore the
    # directory on another client and move the volume there.
    volume "state" {
      type      = "host"
      source    = "weft-manager"
      read_only = false
    }

    network {
      # A fixed port on the host's network: weftd on every client dials
      # it, and the certificate names this address.
      port "api" {
        static = 7443
      }
    }

    # weftd.hcl finds the manager here (Nomad's own service catalogue).
    service {
      name     = "weft-manager"
      provider = "nomad"
      port     = "api"
    }

    task "weft-manager" {
      # raw_exec, as for weftd (weftd.hcl): the packaged binary on the
      # host, its state directory as it is on the host.
      driver = "raw_exec"

      config {
        command = "/usr/sbin/weft-manager"
        args = [
          "--state-dir", "/var/lib/weft-manager",
          "--listen", "[::]:${NOMAD_PORT_api}",
          # The address weftd dials (the service's): the certificate made
          # at each start must name it, or weftd refuses the connection.
          "--tls-san", "IP:${attr.unique.network.ip-address}",
          "--cluster-cidr", "10.244.0.0/16",
          "--cluster-cidr", "fd00:244::/48",
        ]
      }

      # weft-manager stops cleanly on SIGTERM (Nomad sends SIGINT unless
      # told; both work, SIGTERM is what systemd and docker send too).
      kill_signal  = "SIGTERM"
      kill_timeout = "10s"

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
