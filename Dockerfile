# One image for the api, worker and scheduler services (see docker-compose.yml).

# Build: the TypeScript is compiled to dist/ (npm ci's prepare script runs `npm run build`).
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY jobs ./jobs
COPY migrations ./migrations
COPY seeds ./seeds
RUN npm ci --no-audit --no-fund

# Run: the compiled package and its production dependencies only.
FROM node:24-slim
ENV NODE_ENV=production
# inside a container the API must listen on every interface (it listens on 127.0.0.1 by default)
ENV HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY seeds/models ./seeds/models
USER node
ENTRYPOINT ["node", "bin/almanac.js"]
CMD ["--help"]
