module example.com/rules_img_e2e_workspace

go 1.24
