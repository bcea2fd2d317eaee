module example.com/rules_docker_door

go 1.24
