module example.com/rules_oci_door

go 1.24
