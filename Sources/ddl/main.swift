print("ddl")
