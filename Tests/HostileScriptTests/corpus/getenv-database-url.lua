-- os.getenv("DATABASE_URL") would hand the script the database password.
-- expect: exit=1 code=forbidden message="withheld"
-- within: 12
provision.log(os.getenv("DATABASE_URL"))
