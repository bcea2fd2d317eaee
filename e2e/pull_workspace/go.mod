module example.com/rules_img_e2e_pull

go 1.24
