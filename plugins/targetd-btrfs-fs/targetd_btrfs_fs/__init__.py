"""targetd plugin: btrfs file system pools."""
