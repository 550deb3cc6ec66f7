-- 20260221053404_add_missing_models (production-safe version)
--
-- The first version of this migration was generated against an empty database and began by
-- re-creating the enum "attendance_status", which the init migration already created, so
-- `prisma migrate deploy` failed in production with
--     ERROR: type "attendance_status" already exists (SQLSTATE 42710)
-- and recorded the migration as failed (P3018, then P3009 on every later deploy).
--
-- This version only adds what is new and can be re-run after a partial or failed attempt:
--   * new enums: library_issue_status, gallery_privacy, circular_status, chatbot_intent
--     (each in a DO block that ignores duplicate_object);
--   * LIBRARY and CIRCULAR added to notification_type (ADD VALUE IF NOT EXISTS; the new values
--     are not used in this file, which PostgreSQL requires inside one transaction);
--   * new tables: library_books, notes, galleries, circulars, faqs, chatbot_intents,
--     chatbot_messages, routes, vehicle_maintenance, with their indexes and foreign keys.
-- It never re-creates an existing enum or table.

-- CreateEnum
DO $$ BEGIN
    CREATE TYPE "library_issue_status" AS ENUM ('ISSUED', 'RETURNED', 'OVERDUE', 'LOST');
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- CreateEnum
DO $$ BEGIN
    CREATE TYPE "gallery_privacy" AS ENUM ('PUBLIC', 'SCHOOL_ONLY', 'PRIVATE');
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- CreateEnum
DO $$ BEGIN
    CREATE TYPE "circular_status" AS ENUM ('DRAFT', 'PUBLISHED', 'ARCHIVED');
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- CreateEnum
DO $$ BEGIN
    CREATE TYPE "chatbot_intent" AS ENUM ('GREETING', 'ATTENDANCE_QUERY', 'FEE_QUERY', 'LIBRARY_QUERY', 'FALLBACK');
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- AlterEnum
ALTER TYPE "notification_type" ADD VALUE IF NOT EXISTS 'LIBRARY';
ALTER TYPE "notification_type" ADD VALUE IF NOT EXISTS 'CIRCULAR';

-- CreateTable
CREATE TABLE IF NOT EXISTS "library_books" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "author" TEXT NOT NULL,
    "isbn" TEXT,
    "total_copies" INTEGER NOT NULL DEFAULT 1,
    "available_copies" INTEGER NOT NULL DEFAULT 1,
    "issued_to_id" TEXT,
    "issue_status" "library_issue_status",
    "due_date" DATE,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "library_books_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "notes" (
    "id" TEXT NOT NULL,
    "author_id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "subject" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "notes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "galleries" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "privacy" "gallery_privacy" NOT NULL DEFAULT 'SCHOOL_ONLY',
    "image_urls" TEXT[],
    "created_by_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "galleries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "circulars" (
    "id" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "status" "circular_status" NOT NULL DEFAULT 'DRAFT',
    "published_at" TIMESTAMP(3),
    "author_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "circulars_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "faqs" (
    "id" TEXT NOT NULL,
    "question" TEXT NOT NULL,
    "answer" TEXT NOT NULL,
    "category" TEXT,
    "sort_order" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "faqs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "chatbot_intents" (
    "id" TEXT NOT NULL,
    "intent" "chatbot_intent" NOT NULL,
    "training_phrases" TEXT[],
    "response" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "chatbot_intents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "chatbot_messages" (
    "id" TEXT NOT NULL,
    "user_id" TEXT,
    "intent_id" TEXT,
    "message" TEXT NOT NULL,
    "reply" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "chatbot_messages_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "routes" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "start_point" TEXT NOT NULL,
    "end_point" TEXT NOT NULL,
    "stops" JSONB NOT NULL DEFAULT '[]',
    "vehicle_number" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "routes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE IF NOT EXISTS "vehicle_maintenance" (
    "id" TEXT NOT NULL,
    "route_id" TEXT,
    "vehicle_number" TEXT NOT NULL,
    "service_date" DATE NOT NULL,
    "description" TEXT NOT NULL,
    "cost" DECIMAL(10,2),
    "next_service_date" DATE,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "vehicle_maintenance_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX IF NOT EXISTS "library_books_isbn_key" ON "library_books"("isbn");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "library_books_issued_to_id_idx" ON "library_books"("issued_to_id");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "notes_author_id_idx" ON "notes"("author_id");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "galleries_created_by_id_idx" ON "galleries"("created_by_id");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "circulars_status_published_at_idx" ON "circulars"("status", "published_at");

-- CreateIndex
CREATE UNIQUE INDEX IF NOT EXISTS "chatbot_intents_intent_key" ON "chatbot_intents"("intent");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "chatbot_messages_user_id_created_at_idx" ON "chatbot_messages"("user_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX IF NOT EXISTS "routes_name_key" ON "routes"("name");

-- CreateIndex
CREATE INDEX IF NOT EXISTS "vehicle_maintenance_vehicle_number_idx" ON "vehicle_maintenance"("vehicle_number");

-- AddForeignKey
DO $$ BEGIN
    ALTER TABLE "library_books" ADD CONSTRAINT "library_books_issued_to_id_fkey" FOREIGN KEY ("issued_to_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- AddForeignKey
DO $$ BEGIN
    ALTER TABLE "notes" ADD CONSTRAINT "notes_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- AddForeignKey
DO $$ BEGIN
    ALTER TABLE "galleries" ADD CONSTRAINT "galleries_created_by_id_fkey" FOREIGN KEY ("created_by_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- AddForeignKey
DO $$ BEGIN
    ALTER TABLE "circulars" ADD CONSTRAINT "circulars_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- AddForeignKey
DO $$ BEGIN
    ALTER TABLE "chatbot_messages" ADD CONSTRAINT "chatbot_messages_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- AddForeignKey
DO $$ BEGIN
    ALTER TABLE "chatbot_messages" ADD CONSTRAINT "chatbot_messages_intent_id_fkey" FOREIGN KEY ("intent_id") REFERENCES "chatbot_intents"("id") ON DELETE SET NULL ON UPDATE CASCADE;
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

-- AddForeignKey
DO $$ BEGIN
    ALTER TABLE "vehicle_maintenance" ADD CONSTRAINT "vehicle_maintenance_route_id_fkey" FOREIGN KEY ("route_id") REFERENCES "routes"("id") ON DELETE SET NULL ON UPDATE CASCADE;
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;
