# One image for the api, worker and scheduler services (see docker-compose.yml).
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Node 24 runs the TypeScript sources directly, so production needs no build step and no dev tools.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY jobs ./jobs
COPY migrations ./migrations
COPY seeds ./seeds
USER node
ENTRYPOINT ["node", "bin/almanac.js"]
CMD ["--help"]
