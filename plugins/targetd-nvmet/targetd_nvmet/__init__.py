"""targetd-nvmet: NVMe over TCP exports on the kernel NVMe target (nvmet)."""
