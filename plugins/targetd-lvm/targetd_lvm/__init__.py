"""targetd plugin: block pools on LVM volume groups and thin pools."""
