import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line loads
    sys.exit(130)

if __name__ == "__main__":
    main()
