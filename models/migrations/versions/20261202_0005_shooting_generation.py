"""shooting generation

A batch generation of a shooting is a row (`shooting_generation`), run by the workflow
`shooting-generation-{id}`; the generations it creates point back at it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shooting_generation',
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('shooting_id', sa.Uuid(), nullable=False),
    sa.Column('look_id', sa.Uuid(), nullable=True),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('request', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('only_missing', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'running', 'completed', 'failed', 'cancelled', name='jobstatus', native_enum=False, length=32), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('completed', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('error_message', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['look_id'], ['shooting_look.id'], name=op.f('fk_shooting_generation_look_id_shooting_look'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_shooting_generation_organization_id_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_shooting_generation_owner_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by'], ['user.id'], name=op.f('fk_shooting_generation_requested_by_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shooting_id'], ['shooting.id'], name=op.f('fk_shooting_generation_shooting_id_shooting'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shooting_generation'))
    )
    op.create_index('ix_shooting_generation_shooting_created', 'shooting_generation', ['shooting_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_shooting_generation_organization_id'), 'shooting_generation', ['organization_id'], unique=False)
    op.create_index(op.f('ix_shooting_generation_owner_id'), 'shooting_generation', ['owner_id'], unique=False)
    op.create_index(op.f('ix_shooting_generation_status'), 'shooting_generation', ['status'], unique=False)
    op.add_column('generation', sa.Column('shooting_generation_id', sa.Uuid(), nullable=True))
    op.create_index(op.f('ix_generation_shooting_generation_id'), 'generation', ['shooting_generation_id'], unique=False)
    op.create_foreign_key(op.f('fk_generation_shooting_generation_id_shooting_generation'), 'generation', 'shooting_generation', ['shooting_generation_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_generation_shooting_generation_id_shooting_generation'), 'generation', type_='foreignkey')
    op.drop_index(op.f('ix_generation_shooting_generation_id'), table_name='generation')
    op.drop_column('generation', 'shooting_generation_id')
    op.drop_index(op.f('ix_shooting_generation_status'), table_name='shooting_generation')
    op.drop_index(op.f('ix_shooting_generation_owner_id'), table_name='shooting_generation')
    op.drop_index(op.f('ix_shooting_generation_organization_id'), table_name='shooting_generation')
    op.drop_index('ix_shooting_generation_shooting_created', table_name='shooting_generation')
    op.drop_table('shooting_generation')
