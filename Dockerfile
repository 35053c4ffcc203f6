# One image for every routeledger stage; the compose file picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY routeledger ./routeledger
COPY router ./router
COPY collector ./collector
COPY analytics ./analytics
COPY dashboards ./dashboards
RUN pip install --no-cache-dir -c constraints.txt . && useradd --uid 10001 routeledger \
    && mkdir -p /var/lib/routeledger && chown routeledger /var/lib/routeledger
COPY routeledger.yaml ./
USER routeledger
ENTRYPOINT ["routeledger"]
