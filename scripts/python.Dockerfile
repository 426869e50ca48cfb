# The image pipe_api_py: the example Python model, scripts/model.py, in a
# container, so that
#
#	pipecli run --image pipe_api_py
#	pipecli run -- docker run -i --rm -e PYTHONUNBUFFERED=1 pipe_api_py
#
# talk to it over the container's stdin and stdout; arguments after the image
# name reach model.py (docker run -i --rm pipe_api_py --jsonl).
#
# Build it with scripts/build-python-image.sh: the base, Debian bookworm with
# python3 and nothing else, is made with debootstrap and `docker import`, so
# no registry is needed. The script puts model.py in a build context of its
# own and labels the image with a hash of its sources.
FROM pipe_api_py-base:bookworm
COPY model.py /model.py
# The model needs no privileges, no files and no network.
USER 65534:65534
# Neither -u nor PYTHONUNBUFFERED here: like most models, this one answers
# into Python's stdout buffer, and the caller decides (-e PYTHONUNBUFFERED=1).
ENTRYPOINT ["python3", "/model.py"]
