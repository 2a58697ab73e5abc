"""initial schema

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('apps',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('created', sa.String(length=32), nullable=False),
    sa.Column('doc', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('app_id')
    )
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.create_index('apps_by_created', ['created', 'app_id'], unique=False)

    op.create_table('attribute_names',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('app_id', 'kind', 'name')
    )
    op.create_table('channels',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('doc', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('credentials', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('app_id', 'channel')
    )
    op.create_table('endpoints',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('endpoint_key', sa.String(length=256), nullable=False),
    sa.Column('doc', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('user_id', sa.String(length=256), nullable=True),
    sa.Column('channel_type', sa.String(length=32), nullable=True),
    sa.Column('address', sa.String(length=512), nullable=True),
    sa.Column('effective_date', sa.String(length=32), nullable=False),
    sa.Column('cohort', sa.Integer(), nullable=False),
    sa.Column('last_active', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('app_id', 'endpoint_key')
    )
    with op.batch_alter_table('endpoints', schema=None) as batch_op:
        batch_op.create_index('endpoints_by_address', ['app_id', 'address'], unique=False)
        batch_op.create_index('endpoints_by_user', ['app_id', 'user_id'], unique=False)

    op.create_table('keys',
    sa.Column('access_key_id', sa.String(length=64), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('apps', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('root', sa.Boolean(), nullable=False),
    sa.Column('created', sa.String(length=32), nullable=False),
    sa.Column('revoked', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('access_key_id')
    )
    op.create_table('tags',
    sa.Column('arn', sa.String(length=512), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=True),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('arn')
    )
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tags_app_id'), ['app_id'], unique=False)

    op.create_table('users',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=256), nullable=False),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('app_id', 'user_id')
    )



def downgrade() -> None:
    
    op.drop_table('users')
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tags_app_id'))

    op.drop_table('tags')
    op.drop_table('keys')
    with op.batch_alter_table('endpoints', schema=None) as batch_op:
        batch_op.drop_index('endpoints_by_user')
        batch_op.drop_index('endpoints_by_address')

    op.drop_table('endpoints')
    op.drop_table('channels')
    op.drop_table('attribute_names')
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_index('apps_by_created')

    op.drop_table('apps')

