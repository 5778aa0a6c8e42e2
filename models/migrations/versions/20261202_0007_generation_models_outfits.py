"""generation models and outfits

Generation models become rows (`generation_model`, seeded with the default model;
`generation.model_id`, `generation.provider`); outfits become an organization resource
(`outfit`, `outfit_product`) that a look references (`shooting_look.outfit_id`): every look
that had an inline outfit (products, reference URLs, a styling instruction, or OUTFIT
images) gets one outfit holding them, and the inline columns go. Also: the order of a
look's guidelines (`shooting_look_guideline.position`, the precedence of their settings)
and the shots a batch skipped with the reason (`shooting_generation.skipped_shots`).

Downgrade puts each outfit back inline on the looks that use it (an outfit no look uses
is dropped, its images left to the orphan scan).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The seeded default model (models/generation_model.py DEFAULT_MODEL_NAME): a fixed id so
# that seeding twice (a re-run, a restored dump) finds it.
DEFAULT_MODEL_ID = '5a27d0d7-0000-4000-8000-000000000001'
# Looks' outfits get ids derived from the look's (md5 → uuid): set-based, no id mapping.
OUTFIT_ID = "md5('outfit:' || {look}::text)::uuid"
HAS_OUTFIT = """
    coalesce(l.outfit_instruction, '') <> ''
    OR jsonb_array_length(l.outfit_reference_urls) > 0
    OR EXISTS (SELECT 1 FROM shooting_look_outfit_product p WHERE p.look_id = l.id)
    OR EXISTS (
        SELECT 1 FROM media_resource_attachment a
        WHERE a.entity_type = 'OUTFIT' AND a.entity_id = l.id
    )
"""


def _generation_models() -> None:
    op.create_table('generation_model',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=True),
    sa.Column('icon', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('fallback_provider', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('recommended', sa.Boolean(), nullable=False),
    sa.Column('beta', sa.Boolean(), nullable=False),
    sa.Column('max_output_width', sa.Integer(), nullable=True),
    sa.Column('max_output_height', sa.Integer(), nullable=True),
    sa.Column('max_size_pixels', sa.Integer(), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('provider_config', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('provider_capabilities', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('fallback_provider_config', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('fallback_provider_capabilities', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('tool_types', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('defaults', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_generation_model')),
    sa.UniqueConstraint('name', name=op.f('uq_generation_model_name'))
    )
    op.create_index('uq_generation_model_is_default', 'generation_model', ['is_default'], unique=True, postgresql_where=sa.text('is_default'))
    # The default model: every image tool, limits no look can exceed today (a look's
    # sides are up to 8192), so that existing generations keep running as before.
    op.execute(sa.text("""
        INSERT INTO generation_model (
            id, created_at, updated_at, name, description, provider, fallback_provider,
            recommended, beta, max_output_width, max_output_height, max_size_pixels,
            is_default, provider_config, provider_capabilities, fallback_provider_config,
            fallback_provider_capabilities, tool_types, defaults, is_active
        ) VALUES (
            CAST(:id AS uuid), now(), now(), 'sartiq-standard',
            'The standard model: image generation, editing, upscaling and fixes.',
            'fal_standard', 'vertex_ai', true, false, 8192, 8192, 67108864, true,
            '{}', '[]', '{}', '[]',
            '["BASE_GENERATION", "IMAGE_EDITING", "UPSCALING", "BACKGROUND_FIXING",
              "FACE_FIXING", "IMAGE_ADJUSTING"]',
            '{"width": 1024, "height": 1024, "format": "jpg"}', true
        )
        ON CONFLICT DO NOTHING
    """).bindparams(id=DEFAULT_MODEL_ID))
    op.add_column('generation', sa.Column('model_id', sa.Uuid(), nullable=True))
    op.add_column('generation', sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index(op.f('ix_generation_model_id'), 'generation', ['model_id'], unique=False)
    op.create_foreign_key(op.f('fk_generation_model_id_generation_model'), 'generation', 'generation_model', ['model_id'], ['id'], ondelete='SET NULL')
    # Generations that named a model which now is a row point at it.
    op.execute("""
        UPDATE generation g SET model_id = m.id, provider = m.provider
        FROM generation_model m WHERE g.model = m.name AND g.model_id IS NULL
    """)


def _outfit_tables() -> None:
    op.create_table('outfit',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('styling_instruction', sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reference_urls', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_outfit_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_outfit_owner_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outfit'))
    )
    op.create_index(op.f('ix_outfit_organization_id'), 'outfit', ['organization_id'], unique=False)
    op.create_index(op.f('ix_outfit_owner_id'), 'outfit', ['owner_id'], unique=False)
    op.create_table('outfit_product',
    sa.Column('outfit_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['outfit_id'], ['outfit.id'], name=op.f('fk_outfit_product_outfit_id_outfit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_outfit_product_product_id_product'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('outfit_id', 'product_id', name=op.f('pk_outfit_product'))
    )
    op.create_index(op.f('ix_outfit_product_product_id'), 'outfit_product', ['product_id'], unique=False)
    op.add_column('shooting_look', sa.Column('outfit_id', sa.Uuid(), nullable=True))
    op.create_index(op.f('ix_shooting_look_outfit_id'), 'shooting_look', ['outfit_id'], unique=False)
    op.create_foreign_key(op.f('fk_shooting_look_outfit_id_outfit'), 'shooting_look', 'outfit', ['outfit_id'], ['id'], ondelete='SET NULL')


def _inline_outfits_to_rows() -> None:
    """One outfit per look that had any outfit content, named after the look."""
    outfit_id = OUTFIT_ID.format(look='l.id')
    op.execute(f"""
        INSERT INTO outfit (
            id, created_at, updated_at, organization_id, owner_id, name,
            styling_instruction, reference_urls
        )
        SELECT {outfit_id}, now(), now(), l.organization_id, l.owner_id,
            left(coalesce(nullif(l.name, ''), 'Look ' || (l.position + 1)) || ' outfit', 255),
            nullif(l.outfit_instruction, ''), l.outfit_reference_urls
        FROM shooting_look l WHERE {HAS_OUTFIT}
    """)
    op.execute(f"""
        INSERT INTO outfit_product (outfit_id, product_id, position)
        SELECT {OUTFIT_ID.format(look='p.look_id')}, p.product_id, p.position
        FROM shooting_look_outfit_product p
    """)
    op.execute(f"""
        UPDATE shooting_look l SET outfit_id = {outfit_id}
        WHERE EXISTS (SELECT 1 FROM outfit o WHERE o.id = {outfit_id})
    """)
    # A look's outfit images belong to its outfit now (EntityType.OUTFIT names outfits).
    op.execute(f"""
        UPDATE media_resource_attachment a SET entity_id = {OUTFIT_ID.format(look='a.entity_id')}
        WHERE a.entity_type = 'OUTFIT'
          AND EXISTS (SELECT 1 FROM shooting_look l WHERE l.id = a.entity_id)
    """)


def upgrade() -> None:
    _generation_models()
    _outfit_tables()
    _inline_outfits_to_rows()
    op.drop_index(op.f('ix_shooting_look_outfit_product_product_id'), table_name='shooting_look_outfit_product')
    op.drop_table('shooting_look_outfit_product')
    op.drop_column('shooting_look', 'outfit_reference_urls')
    op.drop_column('shooting_look', 'outfit_instruction')
    # Existing links keep the order the API showed them in (by guideline id).
    op.add_column('shooting_look_guideline', sa.Column('position', sa.Integer(), server_default='0', nullable=False))
    op.execute("""
        UPDATE shooting_look_guideline g SET position = ranked.n
        FROM (
            SELECT look_id, guideline_id,
                row_number() OVER (PARTITION BY look_id ORDER BY guideline_id) - 1 AS n
            FROM shooting_look_guideline
        ) ranked
        WHERE g.look_id = ranked.look_id AND g.guideline_id = ranked.guideline_id
    """)
    op.alter_column('shooting_look_guideline', 'position', server_default=None)
    op.add_column('shooting_generation', sa.Column('skipped_shots', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.alter_column('shooting_generation', 'skipped_shots', server_default=None)


def downgrade() -> None:
    op.drop_column('shooting_generation', 'skipped_shots')
    op.drop_column('shooting_look_guideline', 'position')
    op.add_column('shooting_look', sa.Column('outfit_instruction', sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=True))
    op.add_column('shooting_look', sa.Column('outfit_reference_urls', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.alter_column('shooting_look', 'outfit_reference_urls', server_default=None)
    op.create_table('shooting_look_outfit_product',
    sa.Column('look_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['look_id'], ['shooting_look.id'], name=op.f('fk_shooting_look_outfit_product_look_id_shooting_look'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_shooting_look_outfit_product_product_id_product'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('look_id', 'product_id', name=op.f('pk_shooting_look_outfit_product'))
    )
    op.create_index(op.f('ix_shooting_look_outfit_product_product_id'), 'shooting_look_outfit_product', ['product_id'], unique=False)
    # Each outfit inline on every look that uses it.
    op.execute("""
        UPDATE shooting_look l
        SET outfit_instruction = o.styling_instruction, outfit_reference_urls = o.reference_urls
        FROM outfit o WHERE l.outfit_id = o.id
    """)
    op.execute("""
        INSERT INTO shooting_look_outfit_product (look_id, product_id, position)
        SELECT l.id, p.product_id, p.position
        FROM shooting_look l JOIN outfit_product p ON p.outfit_id = l.outfit_id
    """)
    # An attachment names one entity: an outfit's images go back to its first look; those
    # of an outfit no look uses are removed (their media become orphans for the scan).
    op.execute("""
        UPDATE media_resource_attachment a SET entity_id = lead.look_id
        FROM (
            SELECT DISTINCT ON (outfit_id) outfit_id, id AS look_id
            FROM shooting_look WHERE outfit_id IS NOT NULL
            ORDER BY outfit_id, created_at, id
        ) lead
        WHERE a.entity_type = 'OUTFIT' AND a.entity_id = lead.outfit_id
    """)
    op.execute("""
        DELETE FROM media_resource_attachment a
        WHERE a.entity_type = 'OUTFIT' AND EXISTS (SELECT 1 FROM outfit o WHERE o.id = a.entity_id)
    """)
    op.drop_constraint(op.f('fk_shooting_look_outfit_id_outfit'), 'shooting_look', type_='foreignkey')
    op.drop_index(op.f('ix_shooting_look_outfit_id'), table_name='shooting_look')
    op.drop_column('shooting_look', 'outfit_id')
    op.drop_index(op.f('ix_outfit_product_product_id'), table_name='outfit_product')
    op.drop_table('outfit_product')
    op.drop_index(op.f('ix_outfit_owner_id'), table_name='outfit')
    op.drop_index(op.f('ix_outfit_organization_id'), table_name='outfit')
    op.drop_table('outfit')
    op.drop_constraint(op.f('fk_generation_model_id_generation_model'), 'generation', type_='foreignkey')
    op.drop_index(op.f('ix_generation_model_id'), table_name='generation')
    op.drop_column('generation', 'provider')
    op.drop_column('generation', 'model_id')
    op.drop_index('uq_generation_model_is_default', table_name='generation_model')
    op.drop_table('generation_model')
